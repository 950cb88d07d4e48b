//! Chooses the backend (real F-Stack or the kernel-socket implementation), generates bindings
//! and tells cargo how to link.
//!
//! Environment:
//! - `FSTACK_SYS_BACKEND=fstack|kernel` forces a backend.
//! - `FF_PATH`: an F-Stack source tree (`$FF_PATH/lib/libfstack.a`, headers in `$FF_PATH/lib`).
//! - `FSTACK_PREFIX`: install prefix searched when `FF_PATH` is unset (default `/usr/local`).
//! - `PKG_CONFIG_PATH` etc.: how `pkg-config --static libdpdk` finds DPDK.
//! - `FSTACK_ZC_SEND=1|0`: says whether the installed F-Stack was built with `FF_ZC_SEND=1`
//!   (zero-copy send). Without it, the build reads `$FF_PATH/lib/Makefile`: an uncommented
//!   `FF_ZC_SEND=1` line means yes; an install prefix (no Makefile) means no.
//! - `DOCS_RS`: no native work; pregenerated bindings are used.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

const HEADERS: [&str; 2] = ["ff_api.h", "ff_epoll.h"];

// FUNCTIONS and FSTACK_ONLY_FUNCTIONS: the one list of `ff_*` functions, shared with the crate.
include!("src/functions.rs");

struct Installed {
    lib_dir: PathBuf,
    include_dir: PathBuf,
    dpdk: pkg_config::Library,
}

fn main() {
    for var in [
        "FSTACK_SYS_BACKEND",
        "FF_PATH",
        "FSTACK_PREFIX",
        "FSTACK_ZC_SEND",
        "DOCS_RS",
        "PKG_CONFIG_PATH",
        "PKG_CONFIG_LIBDIR",
        "PKG_CONFIG_SYSROOT_DIR",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=csrc/kernel_backend.c");
    println!("cargo:rerun-if-changed=include/fstack_kernel.h");
    println!("cargo:rerun-if-changed=include/fstack_real.h");
    println!("cargo:rerun-if-changed=src/bindings_pregenerated.rs");
    println!("cargo:rerun-if-changed=src/functions.rs");
    println!("cargo::rustc-check-cfg=cfg(fstack_backend, values(\"fstack\", \"kernel\"))");
    println!("cargo::rustc-check-cfg=cfg(fstack_zc_send)");

    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));

    if env::var_os("DOCS_RS").is_some() {
        fs::copy(
            manifest.join("src/bindings_pregenerated.rs"),
            out.join("bindings.rs"),
        )
        .expect("copy pregenerated bindings");
        announce("kernel", "docs.rs build: no native code built or linked");
        return;
    }

    let forced = match env::var("FSTACK_SYS_BACKEND") {
        Ok(v) if v == "fstack" || v == "kernel" => Some(v),
        Ok(v) if v.is_empty() => None,
        Ok(v) => fail(&format!(
            "FSTACK_SYS_BACKEND={v:?} is not a backend: use `fstack` (real F-Stack) or `kernel`"
        )),
        Err(_) => None,
    };

    if forced.as_deref() == Some("kernel") {
        build_kernel(&manifest, &out, "forced by FSTACK_SYS_BACKEND=kernel");
        return;
    }

    match find_fstack() {
        Ok(found) => build_fstack(&manifest, &out, &found),
        Err(searched) => {
            if forced.is_some() || env::var_os("FF_PATH").is_some() {
                let why = if forced.is_some() {
                    "FSTACK_SYS_BACKEND=fstack"
                } else {
                    "FF_PATH is set"
                };
                fail(&format!(
                    "{why} but no usable F-Stack installation was found.\n{}\n\
                     Install F-Stack (libfstack.a and its headers) and DPDK, point FF_PATH at the \
                     F-Stack tree or FSTACK_PREFIX at its install prefix, or set \
                     FSTACK_SYS_BACKEND=kernel to use kernel sockets.",
                    searched.join("\n")
                ));
            }
            let places: Vec<&str> = searched.iter().map(|s| s.trim()).collect();
            let reason = format!("no F-Stack found; searched {}", places.join("; "));
            build_kernel(&manifest, &out, &reason);
        }
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("fstack-sys: {msg}");
    panic!("fstack-sys: {msg}");
}

fn announce(backend: &str, detail: &str) {
    println!("cargo:warning=fstack-sys: backend = {backend} ({detail})");
    println!("cargo:rustc-cfg=fstack_backend=\"{backend}\"");
    // Visible to dependents' build scripts as DEP_FSTACK_BACKEND.
    println!("cargo:backend={backend}");
}

/// Looks for libfstack.a, the headers and DPDK; on failure returns every place searched.
fn find_fstack() -> Result<Installed, Vec<String>> {
    let mut searched = Vec::new();
    let candidates: Vec<(PathBuf, PathBuf, String)> = match env::var_os("FF_PATH") {
        Some(ff) => {
            let lib = PathBuf::from(ff).join("lib");
            vec![(lib.clone(), lib, "FF_PATH".to_string())]
        }
        None => {
            let prefix =
                PathBuf::from(env::var_os("FSTACK_PREFIX").unwrap_or_else(|| "/usr/local".into()));
            let source = if env::var_os("FSTACK_PREFIX").is_some() {
                "FSTACK_PREFIX"
            } else {
                "default prefix"
            };
            vec![(
                prefix.join("lib"),
                prefix.join("include"),
                source.to_string(),
            )]
        }
    };

    let mut found = None;
    for (lib_dir, include_dir, source) in candidates {
        let lib = lib_dir.join("libfstack.a");
        let missing: Vec<String> = std::iter::once(lib.clone())
            .chain(HEADERS.iter().map(|h| include_dir.join(h)))
            .filter(|p| !p.is_file())
            .map(|p| p.display().to_string())
            .collect();
        if missing.is_empty() {
            found = Some((lib_dir, include_dir));
            break;
        }
        searched.push(format!("  {source}: missing {}", missing.join(", ")));
    }
    let (lib_dir, include_dir) = found.ok_or_else(|| searched.clone())?;

    match pkg_config::Config::new()
        .statik(true)
        .cargo_metadata(false)
        .probe("libdpdk")
    {
        Ok(dpdk) => Ok(Installed {
            lib_dir,
            include_dir,
            dpdk,
        }),
        Err(e) => {
            searched.push(format!(
                "  F-Stack found in {}, but `pkg-config --static libdpdk` failed (set \
                 PKG_CONFIG_PATH to DPDK's pkgconfig dir): {e}",
                lib_dir.display()
            ));
            Err(searched)
        }
    }
}

/// Bindgen's allow-list for `names`: one anchored alternative per function.
fn allowlist(names: &[&str]) -> String {
    names.join("|")
}

fn bindings(header: &Path, include_dirs: &[&Path], out: &Path, fstack_only: bool) {
    let mut builder = bindgen::Builder::default()
        .header(header.to_string_lossy())
        .allowlist_function(allowlist(FUNCTIONS))
        .allowlist_type("linux_sockaddr")
        .allowlist_type("epoll_event")
        .allowlist_type("loop_func_t")
        .allowlist_var("AF_INET6_LINUX")
        .use_core()
        .ctypes_prefix("::core::ffi")
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false);
    if fstack_only {
        builder = builder
            .allowlist_function(allowlist(FSTACK_ONLY_FUNCTIONS))
            .allowlist_type("kevent")
            .allowlist_type("dispatch_func_t")
            .allowlist_type("ff_zc_mbuf")
            .allowlist_var("FF_DISPATCH_ERROR")
            .allowlist_var("FF_DISPATCH_RESPONSE")
            .allowlist_var("EVFILT_READ")
            .allowlist_var("EVFILT_WRITE")
            .allowlist_var("EV_.*");
    }
    for dir in include_dirs {
        builder = builder.clang_arg(format!("-I{}", dir.display()));
    }
    let generated = builder
        .generate()
        .unwrap_or_else(|e| fail(&format!("bindgen failed on {}: {e}", header.display())))
        .to_string();
    // An allow-list entry the header lacks is silently skipped by bindgen: fail here instead.
    let extra: &[&str] = if fstack_only {
        FSTACK_ONLY_FUNCTIONS
    } else {
        &[]
    };
    let missing: Vec<&str> = FUNCTIONS
        .iter()
        .chain(extra)
        .filter(|name| !generated.contains(&format!("pub fn {name}(")))
        .copied()
        .collect();
    if !missing.is_empty() {
        fail(&format!(
            "{} does not declare {} (listed in src/functions.rs)",
            header.display(),
            missing.join(", ")
        ));
    }
    fs::write(out.join("bindings.rs"), generated).expect("write bindings");
}

fn build_kernel(manifest: &Path, out: &Path, reason: &str) {
    let include = manifest.join("include");
    cc::Build::new()
        .file(manifest.join("csrc/kernel_backend.c"))
        .include(&include)
        .warnings(true)
        .extra_warnings(true)
        .flag_if_supported("-Wno-unused-parameter")
        .compile("fstack_kernel");
    bindings(&include.join("fstack_kernel.h"), &[&include], out, false);
    println!("cargo:include={}", include.display());
    announce("kernel", reason);
}

fn build_fstack(manifest: &Path, out: &Path, found: &Installed) {
    let mut includes: Vec<&Path> = vec![&found.include_dir];
    includes.extend(found.dpdk.include_paths.iter().map(PathBuf::as_path));
    bindings(
        &manifest.join("include/fstack_real.h"),
        &includes,
        out,
        true,
    );

    // libfstack.a registers FreeBSD SYSINITs through linker sets: every object must be kept.
    println!("cargo:rustc-link-search=native={}", found.lib_dir.display());
    println!("cargo:rustc-link-lib=static:+whole-archive,-bundle=fstack");
    link_dpdk(&found.dpdk);
    for lib in ["rt", "m", "dl", "crypto", "pthread", "numa"] {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
    // Rust links with --gc-sections, which drops the __start_/__stop_ linker-set symbols unless
    // this is passed. Link args do not propagate to dependents: they apply it from
    // DEP_FSTACK_LINK_ARGS (see the crate docs).
    let link_args = "-Wl,-z,nostart-stop-gc";
    println!("cargo:link_args={link_args}");
    println!("cargo:rustc-link-arg={link_args}");
    println!("cargo:include={}", found.include_dir.display());
    println!("cargo:lib_dir={}", found.lib_dir.display());
    let (zc_send, why) = zc_send(&found.lib_dir);
    if zc_send {
        println!("cargo:rustc-cfg=fstack_zc_send");
    }
    // Visible to dependents' build scripts as DEP_FSTACK_ZC_SEND.
    println!("cargo:zc_send={}", u8::from(zc_send));
    println!(
        "cargo:warning=fstack-sys: zero-copy send (FF_ZC_SEND) = {} ({why})",
        if zc_send { "yes" } else { "no" }
    );
    announce(
        "fstack",
        &format!("libfstack.a from {}", found.lib_dir.display()),
    );
}

/// Whether the installed F-Stack was built with `FF_ZC_SEND=1`, and why this build thinks so.
///
/// Nothing in `libfstack.a` tells: `ff_zc_mbuf_get`/`ff_zc_mbuf_write` are always compiled
/// (`lib/ff_veth.c`); only `m_uiotombuf` (`freebsd/kern/uipc_mbuf.c`, `#ifdef FSTACK_ZC_SEND`)
/// changes, to take the caller's buffer as an mbuf chain. Writing such a chain to a build
/// without it would send the chain's pointer bytes, so the answer must come from the build
/// configuration: `FSTACK_ZC_SEND`, else F-Stack's `lib/Makefile`.
fn zc_send(lib_dir: &Path) -> (bool, String) {
    match env::var("FSTACK_ZC_SEND").as_deref() {
        Ok("1") => return (true, "FSTACK_ZC_SEND=1".into()),
        Ok("0") => return (false, "FSTACK_ZC_SEND=0".into()),
        Ok(v) if !v.is_empty() => fail(&format!(
            "FSTACK_ZC_SEND={v:?}: use 1 (F-Stack was built with FF_ZC_SEND=1) or 0"
        )),
        _ => {}
    }
    let makefile = lib_dir.join("Makefile");
    println!("cargo:rerun-if-changed={}", makefile.display());
    match fs::read_to_string(&makefile) {
        Ok(text) => {
            let on = text.lines().any(|line| {
                let line = line.trim_start();
                line.strip_prefix("FF_ZC_SEND").is_some_and(|rest| {
                    let rest = rest.trim_start();
                    let value = rest
                        .strip_prefix(":=")
                        .or_else(|| rest.strip_prefix("?="))
                        .or_else(|| rest.strip_prefix('='));
                    value.is_some_and(|v| !v.trim().is_empty())
                })
            });
            let how = if on { "set" } else { "not set (commented out)" };
            (on, format!("FF_ZC_SEND {how} in {}", makefile.display()))
        }
        Err(_) => (
            false,
            format!(
                "no {} to read; set FSTACK_ZC_SEND=1 if F-Stack was built with FF_ZC_SEND=1",
                makefile.display()
            ),
        ),
    }
}

/// Translates `pkg-config --static --libs libdpdk` into cargo directives, keeping DPDK's
/// whole-archive region (its drivers register themselves from constructors).
fn link_dpdk(dpdk: &pkg_config::Library) {
    for dir in &dpdk.link_paths {
        println!("cargo:rustc-link-search=native={}", dir.display());
    }
    let output = std::process::Command::new(env::var("PKG_CONFIG").unwrap_or("pkg-config".into()))
        .args(["--static", "--libs", "libdpdk"])
        .output()
        .unwrap_or_else(|e| fail(&format!("running pkg-config: {e}")));
    let flags = String::from_utf8_lossy(&output.stdout);
    let mut whole = false;
    let mut seen = std::collections::HashSet::new();
    for flag in flags.split_whitespace() {
        match flag {
            "-Wl,--whole-archive" => whole = true,
            "-Wl,--no-whole-archive" => whole = false,
            _ => {
                if let Some(dir) = flag.strip_prefix("-L") {
                    println!("cargo:rustc-link-search=native={dir}");
                } else if let Some(file) = flag.strip_prefix("-l:") {
                    let modifiers = if whole {
                        "+whole-archive,+verbatim,-bundle"
                    } else {
                        "+verbatim,-bundle"
                    };
                    if seen.insert(file.to_string()) {
                        println!("cargo:rustc-link-lib=static:{modifiers}={file}");
                    }
                } else if let Some(lib) = flag.strip_prefix("-l") {
                    if seen.insert(lib.to_string()) {
                        println!("cargo:rustc-link-lib={lib}");
                    }
                } else if flag == "-pthread" {
                    println!("cargo:rustc-link-lib=dylib=pthread");
                }
            }
        }
    }
}
