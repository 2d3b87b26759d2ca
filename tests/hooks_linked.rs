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
