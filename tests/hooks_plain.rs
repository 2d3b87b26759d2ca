//! Outside coroutines the hooks change nothing: plain threads get exactly
//! std's blocking behaviour, also on fds corio made non-blocking for its
//! coroutines; stdout, pipes and child processes keep working.

mod net_util;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use net_util::watchdog;

/// The kernel's view of the fd's flags, bypassing the fcntl hook.
fn kernel_flags(fd: i32) -> i32 {
    // SAFETY: F_GETFL through the raw syscall has no memory arguments.
    unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_GETFL) as i32 }
}

#[test]
fn plain_threads_get_std_behaviour() {
    let _w = watchdog("plain_threads_get_std_behaviour", 30);
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(100));
    assert!(start.elapsed() >= Duration::from_millis(100));

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        c.write_all(b"late hello").unwrap();
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).unwrap();
        rest
    });
    let mut s = TcpStream::connect(addr).unwrap();
    assert_eq!(kernel_flags(s.as_raw_fd()) & libc::O_NONBLOCK, 0);
    let mut buf = [0; 10];
    s.read_exact(&mut buf).unwrap(); // blocks the thread for ~50 ms
    assert_eq!(&buf, b"late hello");
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let t = Instant::now();
    assert_eq!(
        s.read(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    assert!(t.elapsed() >= Duration::from_millis(100));
    s.set_nonblocking(true).unwrap();
    assert_eq!(
        s.read(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    assert_ne!(kernel_flags(s.as_raw_fd()) & libc::O_NONBLOCK, 0);
    s.set_nonblocking(false).unwrap();
    assert_eq!(kernel_flags(s.as_raw_fd()) & libc::O_NONBLOCK, 0);
    s.write_all(b"bye").unwrap();
    drop(s);
    assert_eq!(server.join().unwrap(), b"bye");
}

#[test]
fn a_socket_corio_made_nonblocking_still_blocks_in_a_plain_thread() {
    let _w = watchdog("a_socket_corio_made_nonblocking_still_blocks", 30);
    let (a, mut b) = UnixStream::pair().unwrap();
    let a = corio::run(move || {
        // A parked read makes corio set O_NONBLOCK on the socket.
        let r = corio::with_timeout(Duration::from_millis(10), || (&a).read(&mut [0; 1]));
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::WouldBlock);
        assert_ne!(kernel_flags(a.as_raw_fd()) & libc::O_NONBLOCK, 0);
        a
    });
    // Hidden from the user ...
    // SAFETY: F_GETFL on an open fd.
    let user_flags = unsafe { libc::fcntl(a.as_raw_fd(), libc::F_GETFL) };
    assert_eq!(user_flags & libc::O_NONBLOCK, 0);
    // ... and a plain thread blocks as it would without corio.
    let reader = std::thread::spawn(move || {
        let mut a = a;
        let mut buf = [0; 5];
        let t = Instant::now();
        a.read_exact(&mut buf).unwrap();
        let waited = t.elapsed();
        a.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let t = Instant::now();
        let err = a.read(&mut [0; 1]).unwrap_err();
        (buf, waited, err.kind(), t.elapsed())
    });
    std::thread::sleep(Duration::from_millis(100));
    b.write_all(b"hello").unwrap();
    let (buf, waited, kind, timed) = reader.join().unwrap();
    assert_eq!(&buf, b"hello");
    assert!(
        waited >= Duration::from_millis(50),
        "got EAGAIN-like early return: {waited:?}"
    );
    assert_eq!(kind, io::ErrorKind::WouldBlock);
    assert!(timed >= Duration::from_millis(50));
}

#[test]
fn printing_pipes_and_child_processes_work_in_coroutines() {
    let _w = watchdog("printing_pipes_and_child_processes", 60);
    let start = Instant::now();
    corio::run(|| {
        let hs: Vec<_> = (0..10)
            .map(|i| {
                corio::spawn(move || {
                    println!("coroutine {i} prints");
                    writeln!(io::stderr(), "coroutine {i} writes to stderr").unwrap();
                    // Command uses pipes (hooked) and poll (hooked) to read
                    // both outputs: the 200 ms children overlap.
                    let out = std::process::Command::new("sh")
                        .arg("-c")
                        .arg(format!("sleep 0.2; echo child {i}"))
                        .output()
                        .unwrap();
                    assert!(out.status.success());
                    String::from_utf8(out.stdout).unwrap()
                })
            })
            .collect();
        for (i, h) in hs.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), format!("child {i}\n"));
        }
    });
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn regular_files_and_stdio_are_untouched() {
    let _w = watchdog("regular_files_and_stdio_are_untouched", 30);
    let dir = std::env::temp_dir().join(format!("corio-plain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("f.txt");
    corio::run(move || {
        std::fs::write(&path, b"file contents").unwrap();
        let f = std::fs::File::open(&path).unwrap();
        assert_eq!(kernel_flags(f.as_raw_fd()) & libc::O_NONBLOCK, 0);
        let mut s = String::new();
        (&f).read_to_string(&mut s).unwrap();
        assert_eq!(s, "file contents");
        assert_eq!(kernel_flags(f.as_raw_fd()) & libc::O_NONBLOCK, 0);
        // Printing from a coroutine leaves stdout's flags alone.
        let before = kernel_flags(1);
        println!("printed from a coroutine");
        io::stdout()
            .write_all(b"written to fd 1 from a coroutine\n")
            .unwrap();
        assert_eq!(kernel_flags(1), before);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    });
}
