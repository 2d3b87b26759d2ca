//! C code doing plain blocking connect/send/poll/recv/read (fortified),
//! called from 50 coroutines on one thread: the calls reach corio's hooks.

mod net_util;

use std::time::{Duration, Instant};

use net_util::{delaying_server, watchdog};

#[test]
fn fifty_c_clients_run_concurrently() {
    let _w = watchdog("fifty_c_clients_run_concurrently", 60);
    let start = Instant::now();
    let replies = corio::run(|| {
        let addr = delaying_server(Duration::from_millis(200), b"\n", |req| {
            let mut r = b"echo: ".to_vec();
            r.extend_from_slice(req);
            r.repeat(20) // several recv/read rounds of the 256-byte C buffer
        });
        let clients: Vec<_> = (0..50)
            .map(|i| {
                corio::spawn(move || {
                    corio_ctest::exchange(addr.port(), format!("client {i}\n").as_bytes(), 1 << 16)
                        .unwrap()
                })
            })
            .collect();
        clients
            .into_iter()
            .map(|c| c.join().unwrap())
            .collect::<Vec<_>>()
    });
    let took = start.elapsed();
    for (i, reply) in replies.iter().enumerate() {
        assert_eq!(
            reply,
            &format!("echo: client {i}\n").into_bytes().repeat(20)
        );
    }
    // Serially: 50 x 200 ms = 10 s.
    assert!(took < Duration::from_millis(1500), "took {took:?}");
}

#[test]
fn c_nanosleep_parks_the_coroutine() {
    let _w = watchdog("c_nanosleep_parks_the_coroutine", 60);
    let start = Instant::now();
    corio::run(|| {
        let hs: Vec<_> = (0..20)
            .map(|_| corio::spawn(|| corio_ctest::nanosleep_ms(100).unwrap()))
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(100) && took < Duration::from_millis(800),
        "took {took:?}"
    );
}

#[test]
fn c_connect_to_a_closed_port_reports_the_errno() {
    let _w = watchdog("c_connect_to_a_closed_port_reports_the_errno", 30);
    corio::run(|| {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = corio_ctest::exchange(port, b"x", 16).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED));
    });
}
