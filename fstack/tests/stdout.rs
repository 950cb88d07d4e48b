//! Stdout carries only the program's own output: whatever C code prints to stdout during
//! `Stack::init` and while the loop runs (F-Stack's config dump, DPDK's messages) ends up on
//! stderr, output the program buffered before `Stack::init` still reaches stdout, and stdout
//! works normally afterwards. Descriptors 1 and 2 of this test process point at files
//! meanwhile (writes through `std::io::stdout()` bypass the test harness's capture).

mod common;

use std::ffi::CStr;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::ops::ControlFlow;
use std::os::fd::AsRawFd;

use fstack::{Stack, StackOptions};

/// Points descriptors 1 and 2 at files until dropped (also when an assertion panics).
struct Redirect {
    saved: [libc::c_int; 2],
}

impl Redirect {
    fn new(out: &File, err: &File) -> Redirect {
        // SAFETY: plain descriptor calls; the duplicates are owned by the Redirect.
        let saved = unsafe { [libc::dup(1), libc::dup(2)] };
        assert!(saved[0] >= 0 && saved[1] >= 0);
        // SAFETY: as above.
        unsafe {
            assert!(libc::dup2(out.as_raw_fd(), 1) >= 0);
            assert!(libc::dup2(err.as_raw_fd(), 2) >= 0);
        }
        Redirect { saved }
    }
}

impl Drop for Redirect {
    fn drop(&mut self) {
        let _ = std::io::stdout().flush();
        // SAFETY: restores the descriptors saved by `new` and closes the copies.
        unsafe {
            libc::dup2(self.saved[0], 1);
            libc::dup2(self.saved[1], 2);
            libc::close(self.saved[0]);
            libc::close(self.saved[1]);
        }
    }
}

/// printf through C's stdio (buffered: descriptor 1 is a file).
fn c_print(text: &CStr) {
    // SAFETY: a constant format and a NUL-terminated string argument.
    unsafe { libc::printf(c"%s".as_ptr(), text.as_ptr()) };
}

fn contents(mut f: &File) -> String {
    let mut s = String::new();
    f.rewind().unwrap();
    f.read_to_string(&mut s).unwrap();
    s
}

#[test]
fn stdout_carries_only_the_programs_output() {
    if common::skip_unless_kernel_backend("stdout_carries_only_the_programs_output") {
        return;
    }
    let dir = std::env::temp_dir();
    let pid = std::process::id();
    let out_path = dir.join(format!("fstack-stdout-{pid}.out"));
    let err_path = dir.join(format!("fstack-stdout-{pid}.err"));
    let out = File::options()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&out_path)
        .unwrap();
    let err = File::options()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&err_path)
        .unwrap();
    {
        let _redirect = Redirect::new(&out, &err);
        let mut stdout = std::io::stdout();
        stdout.write_all(b"program, Rust, before init\n").unwrap();
        // Still in C's buffer when init starts: flushed to stdout before the redirect.
        c_print(c"program, C, before init\n");
        let stack = Stack::init(StackOptions::new(common::config_path())).expect("init");
        stdout.write_all(b"program, Rust, after init\n").unwrap();
        let mut iterations = 0;
        stack.run(|| {
            iterations += 1;
            if iterations == 1 {
                std::io::stdout()
                    .write_all(b"program, Rust, in the loop\n")
                    .unwrap();
                // Indistinguishable from F-Stack's runtime printf: moved to stderr at the end.
                c_print(c"C stdio, in the loop\n");
            }
            ControlFlow::Break(())
        });
        stdout.write_all(b"program, Rust, after run\n").unwrap();
        c_print(c"program, C, after run\n");
        // SAFETY: fflush(NULL) flushes C's output streams; no pointer is passed.
        unsafe { libc::fflush(std::ptr::null_mut()) };
    }
    let (stdout, stderr) = (contents(&out), contents(&err));
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    assert_eq!(
        stdout,
        "program, Rust, before init\n\
         program, C, before init\n\
         program, Rust, after init\n\
         program, Rust, in the loop\n\
         program, Rust, after run\n\
         program, C, after run\n"
    );
    // The kernel backend itself prints nothing on success.
    assert_eq!(stderr, "C stdio, in the loop\n");
}
