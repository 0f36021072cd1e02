//! Go's two float texts: `strconv.FormatFloat(f, 'g', -1, 64)` and `encoding/json`'s.
//!
//! Both start from the shortest digits that read back as the same float, which ryu finds
//! without the formatting machinery and heap text of `format!("{:e}")`; only the layout
//! around those digits differs between the two.

/// The shortest round-trip digits of a finite, non-zero float, without sign, leading or
/// trailing zeros, and the decimal point position: value = 0.d1d2d3... * 10^dp.
struct Digits {
    buf: [u8; 24],
    len: usize,
    dp: i32,
}

impl Digits {
    fn of(f: f64) -> Digits {
        let mut ryu_buf = ryu::Buffer::new();
        // Whatever layout ryu chooses (plain or with an exponent), its digits and the
        // position of its point give the decimal exponent.
        let text = ryu_buf.format_finite(f.abs()).as_bytes();
        let (mantissa, exp10) = match text.iter().position(|&c| c == b'e' || c == b'E') {
            Some(e) => {
                let exp = std::str::from_utf8(&text[e + 1..])
                    .ok()
                    .and_then(|s| s.parse::<i32>().ok())
                    .expect("ryu writes a decimal exponent");
                (&text[..e], exp)
            }
            None => (text, 0),
        };
        let mut out = Digits {
            buf: [0; 24],
            len: 0,
            dp: 0,
        };
        let mut int_digits = 0i32;
        let mut seen_point = false;
        let mut leading = true;
        for &c in mantissa {
            match c {
                b'.' => seen_point = true,
                // Zeros before the first significant digit move the point instead.
                b'0' if leading && seen_point => int_digits -= 1,
                b'0' if leading => {}
                b'0'..=b'9' => {
                    leading = false;
                    out.buf[out.len] = c;
                    out.len += 1;
                    if !seen_point {
                        int_digits += 1;
                    }
                }
                _ => {}
            }
        }
        while out.len > 1 && out.buf[out.len - 1] == b'0' {
            out.len -= 1;
        }
        out.dp = int_digits + exp10;
        out
    }

    fn digits(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

fn write_exp(out: &mut Vec<u8>, neg: bool, d: &Digits, min_exp_digits: usize) {
    if neg {
        out.push(b'-');
    }
    let digits = d.digits();
    out.push(digits[0]);
    if digits.len() > 1 {
        out.push(b'.');
        out.extend_from_slice(&digits[1..]);
    }
    let exp = d.dp - 1;
    out.push(b'e');
    out.push(if exp < 0 { b'-' } else { b'+' });
    let mut exp_buf = itoa::Buffer::new();
    let e = exp_buf.format(exp.unsigned_abs()).as_bytes();
    for _ in e.len()..min_exp_digits {
        out.push(b'0');
    }
    out.extend_from_slice(e);
}

fn write_plain(out: &mut Vec<u8>, neg: bool, d: &Digits) {
    if neg {
        out.push(b'-');
    }
    let digits = d.digits();
    if d.dp <= 0 {
        out.extend_from_slice(b"0.");
        for _ in 0..(-d.dp) {
            out.push(b'0');
        }
        out.extend_from_slice(digits);
    } else {
        let dp = d.dp as usize;
        if digits.len() <= dp {
            out.extend_from_slice(digits);
            for _ in digits.len()..dp {
                out.push(b'0');
            }
        } else {
            out.extend_from_slice(&digits[..dp]);
            out.push(b'.');
            out.extend_from_slice(&digits[dp..]);
        }
    }
}

fn into_text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("float text is ASCII")
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`.
pub(crate) fn format_float_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    let d = Digits::of(f);
    let mut out = Vec::with_capacity(24);
    if (-4..6).contains(&(d.dp - 1)) {
        write_plain(&mut out, f < 0.0, &d);
    } else {
        write_exp(&mut out, f < 0.0, &d, 2);
    }
    into_text(out)
}

/// Appends Go's `encoding/json` text of a float (`null` for NaN and infinities, which Go
/// refuses to encode and Benthos writes as null).
pub(crate) fn write_float_json(out: &mut Vec<u8>, f: f64) {
    if !f.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    if f == 0.0 {
        out.extend_from_slice(if f.is_sign_negative() { b"-0" } else { b"0" });
        return;
    }
    let d = Digits::of(f);
    if (1e-6..1e21).contains(&f.abs()) {
        write_plain(out, f < 0.0, &d);
    } else {
        write_exp(out, f < 0.0, &d, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format_float_json(f: f64) -> String {
        let mut out = Vec::new();
        write_float_json(&mut out, f);
        into_text(out)
    }

    /// The digits as `format!("{:e}")` gives them, the way they were found before ryu.
    fn reference_digits(f: f64) -> (String, i32) {
        let s = format!("{:e}", f.abs());
        let (mant, exp) = s.split_once('e').expect("exponent form has an e");
        let exp: i32 = exp.parse().expect("exponent is an integer");
        let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
        let digits = digits.trim_end_matches('0');
        let digits = if digits.is_empty() { "0" } else { digits };
        (digits.to_owned(), exp + 1)
    }

    /// Where the two differ, the float lies exactly halfway between two shortest candidates:
    /// Rust's formatter rounds those up, Go's `strconv` (like ryu) to the even digit.
    fn check_digits(f: f64) {
        let d = Digits::of(f);
        let got = (String::from_utf8(d.digits().to_vec()).expect("ASCII"), d.dp);
        let want = reference_digits(f);
        if got == want {
            return;
        }
        let exact = format!("{:.80e}", f.abs());
        let exact_digits: String = exact
            .split_once('e')
            .expect("exponent form")
            .0
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let n = got.0.len();
        let rest = &exact_digits[n..];
        assert!(
            rest.starts_with('5') && rest[1..].bytes().all(|b| b == b'0'),
            "{f:e}: {got:?} against {want:?} is not a tie"
        );
        assert_eq!(
            got.0.as_bytes()[n - 1] % 2,
            0,
            "{f:e}: a tie rounds to even"
        );
    }

    #[test]
    fn digits_match_the_formatter() {
        for f in [
            1.0,
            0.5,
            2.5,
            123.25,
            1e21,
            1e-7,
            0.000123,
            123456789.0,
            0.1 + 0.2,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            1e16,
            1.5e16,
            12345678901234567.0,
            1e-5,
            100.0,
        ] {
            check_digits(f);
            check_digits(-f);
        }
    }

    proptest::proptest! {
        #[test]
        fn digits_match_the_formatter_everywhere(bits in proptest::num::u64::ANY) {
            let f = f64::from_bits(bits);
            if f.is_finite() && f != 0.0 {
                check_digits(f);
            }
        }
    }

    #[test]
    fn layouts() {
        assert_eq!(format_float_json(3.0), "3");
        assert_eq!(format_float_json(2.5), "2.5");
        assert_eq!(format_float_json(-0.0), "-0");
        assert_eq!(format_float_json(f64::NAN), "null");
        assert_eq!(format_float_json(1e21), "1e+21");
        assert_eq!(format_float_json(1e20), "100000000000000000000");
        assert_eq!(format_float_json(1e-7), "1e-7");
        assert_eq!(format_float_json(0.000001), "0.000001");
        assert_eq!(format_float_json(-1.5e-7), "-1.5e-7");
        assert_eq!(format_float_g(1e21), "1e+21");
        assert_eq!(format_float_g(1e-7), "1e-07");
        assert_eq!(format_float_g(0.000123), "0.000123");
        assert_eq!(format_float_g(123456789.0), "1.23456789e+08");
        assert_eq!(format_float_g(123456.0), "123456");
        assert_eq!(format_float_g(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_float_g(1e100), "1e+100");
        // Exactly halfway between two shortest texts: Go keeps the even last digit.
        assert_eq!(
            format_float_json("85996990235541.625".parse().unwrap()),
            "85996990235541.62"
        );
        assert_eq!(
            format_float_g("1593281833463625.25".parse().unwrap()),
            "1.5932818334636252e+15"
        );
    }
}
