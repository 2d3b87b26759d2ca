//! A third-party sync HTTP client (ureq), unmodified, in 50 coroutines on
//! one thread: its blocking socket calls park through the hooks.

mod net_util;

use std::time::{Duration, Instant};

use net_util::{delaying_server, http_ok, watchdog};

#[test]
fn fifty_concurrent_ureq_requests_against_a_200ms_server() {
    let _w = watchdog("fifty_concurrent_ureq_requests", 60);
    let start = Instant::now();
    let bodies = corio::run(|| {
        let addr = delaying_server(Duration::from_millis(200), b"\r\n\r\n", |req| {
            // Echo the request path as the body.
            let line = req.split(|&b| b == b'\r').next().unwrap_or_default();
            http_ok(line)
        });
        let clients: Vec<_> = (0..50)
            .map(|i| {
                corio::spawn(move || {
                    let url = format!("http://{addr}/item/{i}");
                    let mut resp = ureq::get(&url).call().unwrap();
                    resp.body_mut().read_to_string().unwrap()
                })
            })
            .collect();
        clients
            .into_iter()
            .map(|c| c.join().unwrap())
            .collect::<Vec<_>>()
    });
    let took = start.elapsed();
    for (i, body) in bodies.iter().enumerate() {
        assert_eq!(body, &format!("GET /item/{i} HTTP/1.1"));
    }
    // Serially this is 50 x 200 ms = 10 s.
    assert!(took < Duration::from_millis(1500), "took {took:?}");
}
