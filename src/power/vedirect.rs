//! Victron VE.Direct's text protocol, read from the charge controller's or
//! battery monitor's serial port (19200 baud, 8N1), about one frame a second.
//!
//! A frame is lines of `\r\n<label>\t<value>`; its last field is `Checksum`,
//! whose value is one byte chosen so that every byte of the frame sums to 0
//! modulo 256. Hex messages (`:` ... `\n`) may be interleaved anywhere but in
//! the checksum byte; they are skipped and not summed. A frame that does not
//! sum to 0 is discarded and counted. A BMV sends its fields in two frames,
//! so one reading merges the good frames of its window.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::unix::AsyncFd;

use super::{unix_now, Problem, Reading, Source};

/// The longest label or value kept; longer means noise, and a resync.
const MAX_FIELD: usize = 64;
/// The most fields one frame may hold.
const MAX_FIELDS: usize = 64;

/// What the parser saw at the end of a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A frame that summed to 0: its fields (without `Checksum`), in order.
    Good(Vec<(String, String)>),
    /// A frame that did not: discarded.
    BadChecksum,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Looking for the end of a frame (`Checksum\t` and its byte) to start at.
    Unsynced,
    /// The byte after `Checksum\t` while unsynced: the next frame starts after it.
    SyncByte,
    Label,
    Value,
    /// The checksum byte itself (any value, `:` included).
    ChecksumByte,
}

/// A byte-at-a-time frame parser (no I/O), synced on the first frame end it sees.
#[derive(Debug)]
pub struct Parser {
    state: State,
    /// The state to go back to after a hex message.
    before_hex: Option<State>,
    sum: u8,
    label: Vec<u8>,
    value: Vec<u8>,
    fields: Vec<(String, String)>,
    /// The last bytes seen while unsynced, to find `Checksum\t`.
    tail: Vec<u8>,
}

impl Default for Parser {
    fn default() -> Parser {
        Parser::new()
    }
}

impl Parser {
    /// A parser that waits for a frame's end before trusting any byte
    /// (it may be started in the middle of a frame).
    pub fn new() -> Parser {
        Parser {
            state: State::Unsynced,
            before_hex: None,
            sum: 0,
            label: Vec::new(),
            value: Vec::new(),
            fields: Vec::new(),
            tail: Vec::new(),
        }
    }

    /// A parser that trusts the stream to start at a frame's start.
    pub fn at_frame_start() -> Parser {
        Parser {
            state: State::Label,
            ..Parser::new()
        }
    }

    /// Drops the frame being read and waits for the next frame end.
    pub fn resync(&mut self) {
        *self = Parser::new();
    }

    fn start_frame(&mut self) {
        self.state = State::Label;
        self.sum = 0;
        self.label.clear();
        self.value.clear();
        self.fields.clear();
    }

    /// Feeds one byte; a frame when this byte ended one.
    pub fn push(&mut self, b: u8) -> Option<Frame> {
        if let Some(back) = self.before_hex {
            if b == b'\n' {
                self.before_hex = None;
                self.state = back;
            }
            return None;
        }
        match self.state {
            State::Unsynced => {
                self.tail.push(b);
                if self.tail.len() > 9 {
                    self.tail.remove(0);
                }
                if self.tail == b"Checksum\t" {
                    self.state = State::SyncByte;
                }
                None
            }
            State::SyncByte => {
                self.tail.clear();
                self.start_frame();
                None
            }
            State::ChecksumByte => {
                let sum = self.sum.wrapping_add(b);
                let frame = if sum == 0 {
                    Frame::Good(std::mem::take(&mut self.fields))
                } else {
                    Frame::BadChecksum
                };
                self.start_frame();
                Some(frame)
            }
            State::Label | State::Value if b == b':' => {
                self.before_hex = Some(self.state);
                None
            }
            State::Label => {
                self.sum = self.sum.wrapping_add(b);
                match b {
                    b'\r' | b'\n' => self.label.clear(),
                    b'\t' if self.label == b"Checksum" => {
                        self.state = State::ChecksumByte;
                        self.label.clear();
                    }
                    b'\t' => self.state = State::Value,
                    _ if self.label.len() >= MAX_FIELD => self.resync(),
                    _ => self.label.push(b),
                }
                None
            }
            State::Value => {
                self.sum = self.sum.wrapping_add(b);
                match b {
                    b'\r' | b'\n' => {
                        if self.fields.len() >= MAX_FIELDS {
                            self.resync();
                            return None;
                        }
                        let label = String::from_utf8_lossy(&self.label).into_owned();
                        let value = String::from_utf8_lossy(&self.value).into_owned();
                        self.fields.push((label, value));
                        self.label.clear();
                        self.value.clear();
                        self.state = State::Label;
                    }
                    _ if self.value.len() >= MAX_FIELD => self.resync(),
                    _ => self.value.push(b),
                }
                None
            }
        }
    }
}

/// The frame's bytes for `fields`, with the checksum that makes them sum to 0
/// (what a Victron device sends; tests and tools build frames with it).
pub fn encode(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (label, value) in fields {
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(label.as_bytes());
        out.push(b'\t');
        out.extend_from_slice(value.as_bytes());
    }
    out.extend_from_slice(b"\r\nChecksum\t");
    let sum = out.iter().fold(0u8, |s, b| s.wrapping_add(*b));
    out.push(0u8.wrapping_sub(sum));
    out
}

/// The charge state (`CS`) in words.
fn charge_state(code: &str) -> String {
    match code {
        "0" => "off".into(),
        "2" => "fault".into(),
        "3" => "bulk".into(),
        "4" => "absorption".into(),
        "5" => "float".into(),
        "7" => "equalize".into(),
        "245" => "starting".into(),
        "247" => "auto equalize".into(),
        "252" => "external control".into(),
        other => format!("state {other}"),
    }
}

/// Merges good frames' fields into one reading; `None` while it has no `SOC` nor `V`.
#[derive(Debug, Default)]
pub struct Merge {
    fields: std::collections::BTreeMap<String, String>,
}

impl Merge {
    pub fn add(&mut self, fields: Vec<(String, String)>) {
        self.fields.extend(fields);
    }

    /// Enough for a reading: a charge (BMV, SmartShunt), or a voltage and
    /// the charge state (an MPPT, which has no charge to give).
    pub fn complete(&self) -> bool {
        self.fields.contains_key("SOC")
            || (self.fields.contains_key("V") && self.fields.contains_key("CS"))
    }

    /// The reading; an MPPT alone (no `SOC`) is missing its charge.
    pub fn reading(&self, at: i64) -> Result<Reading, Problem> {
        let number = |label: &str, divisor: f64| -> Result<Option<f64>, Problem> {
            self.fields
                .get(label)
                .map(|v| {
                    v.trim().parse::<f64>().map(|n| n / divisor).map_err(|_| {
                        Problem::Malformed(format!("VE.Direct {label} = {v:?} is not a number"))
                    })
                })
                .transpose()
        };
        let mut r = Reading::empty(Source::VeDirect, at);
        r.charge = number("SOC", 10.0)?.map(|c| c.clamp(0.0, 100.0));
        r.volts = number("V", 1000.0)?;
        r.amps = number("I", 1000.0)?;
        r.panel_watts = number("PPV", 1.0)?;
        r.runtime = number("TTG", 1.0)?
            .filter(|m| *m >= 0.0)
            .map(|m| Duration::from_secs_f64(m * 60.0));
        r.on_battery = r.amps.is_some_and(|a| a < 0.0);
        // A BMV's alarm reason: 1 low voltage, 4 low state of charge.
        r.low_battery = self
            .fields
            .get("AR")
            .and_then(|v| v.trim().parse::<u32>().ok())
            .is_some_and(|ar| ar & (1 | 4) != 0);
        let mut status = Vec::new();
        if let Some(cs) = self.fields.get("CS") {
            status.push(charge_state(cs.trim()));
        }
        if let Some(err) = self.fields.get("ERR").filter(|e| e.trim() != "0") {
            status.push(format!("error {}", err.trim()));
        }
        r.status = status.join(", ");
        if r.charge.is_none() && !r.low_battery {
            return Err(Problem::Missing(
                "SOC (an MPPT alone does not measure the charge: connect the BMV or SmartShunt)"
                    .into(),
            ));
        }
        Ok(r)
    }
}

/// Opens `device` as a raw 19200 8N1 serial port, non-blocking.
fn open_tty(device: &std::path::Path) -> std::io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt as _;
    let path = std::ffi::CString::new(device.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in the path"))?;
    // SAFETY: a valid C string; the fd is owned at once.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is ours alone.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: termios is plain data; the calls get a valid fd and pointer.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd.as_raw_fd(), &mut t) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        libc::cfmakeraw(&mut t);
        t.c_cflag &= !(libc::CSTOPB | libc::PARENB | libc::CRTSCTS | libc::CSIZE);
        t.c_cflag |= libc::CS8 | libc::CLOCAL | libc::CREAD;
        if libc::cfsetispeed(&mut t, libc::B19200) != 0
            || libc::cfsetospeed(&mut t, libc::B19200) != 0
            || libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, &t) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(fd)
}

/// The VE.Direct source: the tty stays open between readings.
pub struct VeDirectReader {
    device: PathBuf,
    timeout: Duration,
    port: Option<AsyncFd<OwnedFd>>,
    /// Frames discarded for their checksum since the start (for telemetry).
    pub bad_frames: u64,
}

impl VeDirectReader {
    pub fn new(device: PathBuf, timeout: Duration) -> VeDirectReader {
        VeDirectReader {
            device,
            timeout,
            port: None,
            bad_frames: 0,
        }
    }

    /// One reading: fresh frames only (what queued since the last reading is
    /// dropped), merged until complete, within the deadline.
    pub async fn read(&mut self) -> Result<Reading, Problem> {
        let name = self.device.display().to_string();
        if self.port.is_none() {
            let fd =
                open_tty(&self.device).map_err(|e| Problem::Unreachable(format!("{name}: {e}")))?;
            // SAFETY: the AsyncFd owns the OwnedFd, so the fd stays open as long as it.
            let port = unsafe { AsyncFd::register(fd) }
                .map_err(|e| Problem::Unreachable(format!("{name}: {e}")))?;
            self.port = Some(port);
        }
        let port = self.port.as_ref().expect("just opened");
        // SAFETY: a valid open fd.
        unsafe { libc::tcflush(port.get_ref().as_raw_fd(), libc::TCIFLUSH) };
        let mut parser = Parser::new();
        let mut merge = Merge::default();
        let mut bad = 0u32;
        let mut good = 0u32;
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut buf = [0u8; 512];
        let outcome = loop {
            let ready = tokio::time::timeout_at(deadline, port.readable()).await;
            let mut guard = match ready {
                Err(_) => break None,
                Ok(Err(e)) => break Some(Err(e)),
                Ok(Ok(g)) => g,
            };
            let n = match guard.try_io(|fd| {
                // SAFETY: reading into a buffer we own, of its length.
                let n = unsafe {
                    libc::read(fd.get_ref().as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
                };
                if n < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            }) {
                Err(_would_block) => continue,
                Ok(Err(e)) => break Some(Err(e)),
                Ok(Ok(0)) => {
                    break Some(Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the device closed",
                    )))
                }
                Ok(Ok(n)) => n,
            };
            for &b in &buf[..n] {
                match parser.push(b) {
                    Some(Frame::Good(fields)) => {
                        good += 1;
                        merge.add(fields);
                    }
                    Some(Frame::BadChecksum) => bad += 1,
                    None => {}
                }
            }
            // A BMV's second block may follow the first: take both when they come.
            if merge.complete() && (good >= 2 || merge.fields.contains_key("SOC")) {
                break Some(Ok(()));
            }
        };
        self.bad_frames += u64::from(bad);
        match outcome {
            Some(Ok(())) => merge.reading(unix_now()),
            Some(Err(e)) => {
                self.port = None;
                Err(Problem::Unreachable(format!("{name}: {e}")))
            }
            None if merge.complete() => merge.reading(unix_now()),
            None if bad > 0 => Err(Problem::BadChecksum { count: bad }),
            None if good > 0 => merge.reading(unix_now()),
            None => Err(Problem::Unreachable(format!(
                "{name}: no complete frame within {:?}",
                self.timeout
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(bytes: &[u8], mut parser: Parser) -> Vec<Frame> {
        bytes.iter().filter_map(|&b| parser.push(b)).collect()
    }

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    const BMV: &[(&str, &str)] = &[("V", "12800"), ("I", "-1500"), ("SOC", "876"), ("AR", "0")];

    #[test]
    fn a_good_frame_parses_and_sums_to_zero() {
        let bytes = encode(BMV);
        assert_eq!(bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b)), 0);
        assert_eq!(
            frames(&bytes, Parser::at_frame_start()),
            vec![Frame::Good(fields(BMV))]
        );
    }

    #[test]
    fn a_broken_frame_is_discarded_and_the_next_one_counts() {
        let mut bytes = encode(BMV);
        bytes[5] ^= 0x01; // one bit of "12800" flipped
        bytes.extend(encode(&[("SOC", "500")]));
        assert_eq!(
            frames(&bytes, Parser::at_frame_start()),
            vec![Frame::BadChecksum, Frame::Good(fields(&[("SOC", "500")]))]
        );
    }

    #[test]
    fn a_parser_started_mid_frame_waits_for_the_next_one() {
        let mut bytes = encode(BMV);
        bytes.extend(encode(&[("SOC", "500")]));
        // Started inside the first frame: that frame is skipped, not counted bad.
        assert_eq!(
            frames(&bytes[7..], Parser::new()),
            vec![Frame::Good(fields(&[("SOC", "500")]))]
        );
    }

    #[test]
    fn hex_messages_are_skipped_and_not_summed() {
        let frame = encode(BMV);
        let mut bytes = Vec::new();
        bytes.extend_from_slice(b":A0102000543\n");
        bytes.extend_from_slice(&frame[..8]);
        bytes.extend_from_slice(b":7F0ED0071\n");
        bytes.extend_from_slice(&frame[8..]);
        assert_eq!(
            frames(&bytes, Parser::at_frame_start()),
            vec![Frame::Good(fields(BMV))]
        );
    }

    #[test]
    fn a_checksum_byte_that_is_a_colon_is_a_checksum() {
        // Find a value whose frame's checksum byte is ':'.
        let frame = (0..3600)
            .map(|n| encode(&[("A", &"a".repeat(n % 60)), ("B", &"b".repeat(n / 60))]))
            .find(|f| f.last() == Some(&b':'))
            .expect("some value gives ':'");
        let got = frames(&frame, Parser::at_frame_start());
        assert!(matches!(got.as_slice(), [Frame::Good(_)]), "{got:?}");
    }

    #[test]
    fn noise_resyncs_instead_of_growing() {
        let mut bytes = encode(BMV);
        bytes.extend(std::iter::repeat_n(b'x', 10_000));
        bytes.extend(encode(BMV));
        bytes.extend(encode(BMV));
        let got = frames(&bytes, Parser::at_frame_start());
        assert_eq!(got.first(), Some(&Frame::Good(fields(BMV))));
        assert_eq!(got.last(), Some(&Frame::Good(fields(BMV))));
    }

    #[test]
    fn readings_from_merged_frames() {
        let mut m = Merge::default();
        m.add(fields(&[
            ("V", "12800"),
            ("I", "-1500"),
            ("CS", "3"),
            ("ERR", "0"),
            ("PPV", "120"),
        ]));
        assert_eq!(
            m.reading(0).unwrap_err(),
            Problem::Missing(
                "SOC (an MPPT alone does not measure the charge: connect the BMV or SmartShunt)"
                    .into()
            )
        );
        m.add(fields(&[("SOC", "355"), ("TTG", "90")]));
        let r = m.reading(5).unwrap();
        assert_eq!(r.charge, Some(35.5));
        assert_eq!(r.volts, Some(12.8));
        assert_eq!(r.amps, Some(-1.5));
        assert_eq!(r.panel_watts, Some(120.0));
        assert_eq!(r.runtime, Some(Duration::from_secs(90 * 60)));
        assert!(r.on_battery && !r.low_battery);
        assert_eq!(r.status, "bulk");
        m.add(fields(&[("AR", "4"), ("ERR", "2")]));
        let r = m.reading(5).unwrap();
        assert!(r.low_battery);
        assert_eq!(r.status, "bulk, error 2");
    }
}
