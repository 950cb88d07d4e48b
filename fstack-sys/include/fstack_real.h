/* bindgen entry point for an installed F-Stack: its own public headers. */
#include <ff_api.h>
#include <ff_epoll.h>
