/* bindgen entry point for an installed F-Stack: its own public headers. */
#include <ff_api.h>
#include <ff_epoll.h>

/* Exported by libfstack.a (lib/ff_api.symlist, defined in lib/ff_veth.c) but not declared in
 * ff_api.h: frees an mbuf chain, e.g. one from ff_zc_mbuf_get that ff_write did not take. */
void ff_mbuf_free(void *m);
