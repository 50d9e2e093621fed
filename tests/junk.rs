//! Junk and slow clients get a 4xx (or are cut off) and never stall a
//! normal phone. Runs against the live portal in a namespace village.

use desawifi_testkit as common;

use common::{curl, ns_exec, Daemon, Village};

/// Run from phone 2: send garbage, a 2 MB header and a lying Content-Length
/// (one status line per probe), then open 500 half-sent requests and hold
/// them; print how many the portal kept open.
const JUNK: &str = r#"
import socket, sys, time
def conn():
    s = socket.create_connection(("10.77.0.1", 2050), timeout=5)
    return s
def status(s):
    try:
        data = s.recv(200)
    except Exception as e:
        return "ERR " + type(e).__name__
    return data.split(b"\r\n")[0].decode() if data else "CLOSED"
s = conn(); s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n"); print("garbage", status(s)); s.close()
s = conn()
try:
    s.sendall(b"GET / HTTP/1.1\r\nHost: 10.77.0.1\r\nX-Big: " + b"a" * (2 * 1024 * 1024) + b"\r\n\r\n")
except Exception:
    pass
print("bigheader", status(s)); s.close()
s = conn()
try:
    s.sendall(b"POST /login HTTP/1.1\r\nHost: 10.77.0.1\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000)
except Exception:
    pass                                 # the portal may answer 413 and close before all of it is sent
print("bigbody", status(s)); s.close()
held = []
s = conn(); s.sendall(b"POST /login HTTP/1.1\r\nHost: 10.77.0.1\r\nContent-Length: 999999999\r\n\r\nlang=id"); held.append(s)
for _ in range(499):                     # half-sent request heads, held open
    try:
        s = conn(); s.sendall(b"GET / HTTP/1.1\r\nHost: 10.77.0.1\r\nX-Slow: "); held.append(s)
    except Exception:
        pass                             # refused or reset at once: the portal's per-client cap
time.sleep(1)
still_open = 0
for s in held:                           # closed by the portal = recv gives b"" or an error at once
    s.setblocking(False)
    try:
        still_open += 1 if s.recv(1) else 0
    except BlockingIOError:
        still_open += 1
    except Exception:
        pass
print("opened", 500, "held", still_open); sys.stdout.flush()
time.sleep(float(sys.argv[1]))
"#;

#[test]
fn junk_gets_4xx_and_never_stalls_a_normal_phone() {
    let v = Village::up("junk", 2);
    // A global cap below the 500 junk connections: without the per-client
    // cap (default 32) phone 2 alone would take every slot.
    let d = Daemon::start_portal(&v, "max_connections = 400\n", "");
    let phone2 = v.phone(2);
    let junk = std::thread::spawn(move || ns_exec(&phone2, &["python3", "-c", JUNK, "6"]));
    std::thread::sleep(std::time::Duration::from_secs(4));
    // While junk is held open, phone 1 still gets its splash page within curl's 3 s.
    for _ in 0..5 {
        let r = curl(&v.phone(1), &["http://10.77.0.1:2050/"], 3.0);
        assert_eq!(
            r.code,
            200,
            "normal phone answered while junk is held open: {r:?}\n{}",
            d.log()
        );
        assert!(r.body.contains("Sambungkan"));
    }
    let r = curl(&v.phone(1), &["http://example.com/"], 3.0);
    assert_eq!(
        r.code, 302,
        "a captive phone's redirect still comes while junk is held open: {r:?}"
    );
    let out = junk.join().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "junk script: {report} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |name: &str| {
        report
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {report}"))
            .to_owned()
    };
    assert!(
        line("garbage").contains("HTTP/1.1 400"),
        "garbage gets 400: {report}"
    );
    assert!(
        line("bigheader").contains("HTTP/1.1 431"),
        "2 MB header gets 431: {report}"
    );
    assert!(
        line("bigbody").contains("HTTP/1.1 413"),
        "oversized body gets 413: {report}"
    );
    let held: usize = line("opened")
        .split_whitespace()
        .last()
        .unwrap()
        .parse()
        .unwrap();
    assert!(held <= 32, "one phone holds at most max_connections_per_client (32) connections, held {held}: {report}");
    assert!(
        held >= 16,
        "the phone's first connections are accepted, held {held}: {report}"
    );
    // And afterwards everything is still fine.
    let r = curl(&v.phone(1), &["http://10.77.0.1:2050/api/captive"], 3.0);
    assert_eq!(r.code, 200);
}
