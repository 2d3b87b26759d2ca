//! The hooks are linked into a program that names only the facade and std:
//! no build script, link flag or LD_PRELOAD.

use std::io::{Read, Write};
use std::time::Duration;

#[test]
fn std_net_in_coroutines_goes_through_the_hooks() {
    // A blocking std accept in one coroutine and a std client in another
    // on one thread: without the hooks the accept would block the thread
    // and the client could never run.
    let got = corio::run(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = corio::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0; 4];
            conn.read_exact(&mut buf).unwrap();
            conn.write_all(&buf).unwrap();
        });
        let client = corio::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(b"ping").unwrap();
            let mut buf = [0; 4];
            s.read_exact(&mut buf).unwrap();
            buf
        });
        server.join().unwrap();
        client.join().unwrap()
    });
    assert_eq!(&got, b"ping");
}

/// The hook symbols are exported from the executable, so shared libraries
/// the program links and libraries it dlopens bind to them too (the symbol
/// lookup finds the executable's definition before libc's).
#[test]
fn hook_symbols_win_the_global_symbol_lookup() {
    for name in [
        c"recv",
        c"connect",
        c"poll",
        c"clock_nanosleep",
        c"getaddrinfo",
    ] {
        // SAFETY: dlsym/dladdr with a NUL-terminated name and a zeroed
        // Dl_info out-parameter.
        let (global, next, object) = unsafe {
            let global = libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr());
            let next = libc::dlsym(libc::RTLD_NEXT, name.as_ptr());
            let mut info: libc::Dl_info = std::mem::zeroed();
            assert_ne!(libc::dladdr(global, &mut info), 0);
            let object = std::ffi::CStr::from_ptr(info.dli_fname)
                .to_string_lossy()
                .into_owned();
            (global, next, object)
        };
        assert!(!global.is_null() && !next.is_null());
        assert_ne!(global, next, "{name:?}: the global definition is libc's");
        let exe = std::env::current_exe().unwrap();
        let exe_name = exe.file_name().unwrap().to_string_lossy();
        assert!(
            object.ends_with(&*exe_name),
            "{name:?} resolves to {object}, not the executable"
        );
    }
}
