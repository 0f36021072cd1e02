//! The methods against small databases written here: one IPv4 network per database.

use std::path::PathBuf;

use crate::mapping::Mapping;
use crate::target::SimpleMessage;

/// A value of the MaxMind DB data format.
enum Mm {
    Str(&'static str),
    U16(u16),
    U32(u32),
    U64(u64),
    Double(f64),
    Bool(bool),
    Map(Vec<(&'static str, Mm)>),
    Array(Vec<Mm>),
}

/// A control byte (and the extended type byte) for a type and payload size.
fn control(out: &mut Vec<u8>, type_id: u8, size: usize) {
    let (size_bits, extra): (u8, Vec<u8>) = match size {
        0..=28 => (size as u8, vec![]),
        29..=284 => (29, vec![(size - 29) as u8]),
        _ => {
            let rest = size - 285;
            (30, vec![(rest >> 8) as u8, rest as u8])
        }
    };
    if type_id <= 7 {
        out.push((type_id << 5) | size_bits);
    } else {
        out.push(size_bits);
        out.push(type_id - 7);
    }
    out.extend(extra);
}

fn encode(out: &mut Vec<u8>, v: &Mm) {
    match v {
        Mm::Str(s) => {
            control(out, 2, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        Mm::Double(f) => {
            control(out, 3, 8);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Mm::U16(n) => {
            let bytes = n.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            control(out, 5, 2 - skip);
            out.extend_from_slice(&bytes[skip..]);
        }
        Mm::U32(n) => {
            let bytes = n.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            control(out, 6, 4 - skip);
            out.extend_from_slice(&bytes[skip..]);
        }
        Mm::U64(n) => {
            let bytes = n.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            control(out, 9, 8 - skip);
            out.extend_from_slice(&bytes[skip..]);
        }
        Mm::Map(entries) => {
            control(out, 7, entries.len());
            for (k, v) in entries {
                encode(out, &Mm::Str(k));
                encode(out, v);
            }
        }
        Mm::Array(items) => {
            control(out, 11, items.len());
            for item in items {
                encode(out, item);
            }
        }
        Mm::Bool(b) => control(out, 14, usize::from(*b)),
    }
}

/// An IPv4 database of `database_type` holding `record` for `a.b.c.0/24`.
fn database(database_type: &'static str, network: [u8; 3], record: Mm) -> Vec<u8> {
    const DEPTH: u32 = 24;
    let node_count = DEPTH;
    let mut out = Vec::new();
    let bits: u32 =
        u32::from(network[0]) << 16 | u32::from(network[1]) << 8 | u32::from(network[2]);
    for depth in 0..DEPTH {
        let bit = (bits >> (DEPTH - 1 - depth)) & 1;
        // The branch along the network goes deeper, or to the record at the last level; the
        // other branch holds nothing (a record equal to the node count).
        let along = if depth + 1 == DEPTH {
            node_count + 16
        } else {
            depth + 1
        };
        let (left, right) = if bit == 0 {
            (along, node_count)
        } else {
            (node_count, along)
        };
        out.extend_from_slice(&left.to_be_bytes()[1..]);
        out.extend_from_slice(&right.to_be_bytes()[1..]);
    }
    out.extend_from_slice(&[0; 16]);
    encode(&mut out, &record);
    out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
    encode(
        &mut out,
        &Mm::Map(vec![
            ("binary_format_major_version", Mm::U16(2)),
            ("binary_format_minor_version", Mm::U16(0)),
            ("build_epoch", Mm::U64(1_700_000_000)),
            ("database_type", Mm::Str(database_type)),
            ("description", Mm::Map(vec![("en", Mm::Str("test"))])),
            ("ip_version", Mm::U16(4)),
            ("languages", Mm::Array(vec![Mm::Str("en")])),
            ("node_count", Mm::U32(node_count)),
            ("record_size", Mm::U16(24)),
        ]),
    );
    out
}

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-geoip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn check(mapping: &str, input: &str) -> Result<String, String> {
    let mapping = Mapping::parse(mapping).map_err(|e| e.to_string())?;
    let batch = [SimpleMessage::new(input.as_bytes().to_vec())];
    let out = mapping.exec(&batch[..], 0).map_err(|e| e.to_string())?;
    match out.root {
        crate::Root::Value(v) => Ok(String::from_utf8(v.to_message_bytes()).unwrap()),
        other => Err(format!("unexpected root {other:?}")),
    }
}

fn city_db() -> PathBuf {
    let record = Mm::Map(vec![
        (
            "city",
            Mm::Map(vec![
                ("geoname_id", Mm::U32(2_694_762)),
                ("names", Mm::Map(vec![("en", Mm::Str("Linköping"))])),
            ]),
        ),
        (
            "country",
            Mm::Map(vec![
                ("iso_code", Mm::Str("SE")),
                ("is_in_european_union", Mm::Bool(true)),
                ("geoname_id", Mm::U32(2_661_886)),
            ]),
        ),
        (
            "location",
            Mm::Map(vec![
                ("latitude", Mm::Double(58.4167)),
                ("longitude", Mm::Double(15.6167)),
                ("accuracy_radius", Mm::U16(76)),
                ("time_zone", Mm::Str("Europe/Stockholm")),
            ]),
        ),
        (
            "subdivisions",
            Mm::Array(vec![Mm::Map(vec![("iso_code", Mm::Str("E"))])]),
        ),
    ]);
    write(
        "city.mmdb",
        &database("GeoLite2-City", [89, 160, 20], record),
    )
}

#[test]
fn city_records_have_every_field_of_the_go_struct() {
    let path = city_db();
    let mapping = format!("root = this.ip.geoip_city({:?})", path.display());
    let expected = concat!(
        r#"{"City":{"GeoNameID":2694762,"Names":{"en":"Linköping"}},"#,
        r#""Continent":{"Code":"","GeoNameID":0,"Names":null},"#,
        r#""Country":{"GeoNameID":2661886,"IsInEuropeanUnion":true,"IsoCode":"SE","Names":null},"#,
        r#""Location":{"AccuracyRadius":76,"Latitude":58.4167,"Longitude":15.6167,"MetroCode":0,"TimeZone":"Europe/Stockholm"},"#,
        r#""Postal":{"Code":""},"#,
        r#""RegisteredCountry":{"GeoNameID":0,"IsInEuropeanUnion":false,"IsoCode":"","Names":null},"#,
        r#""RepresentedCountry":{"GeoNameID":0,"IsInEuropeanUnion":false,"IsoCode":"","Names":null,"Type":""},"#,
        r#""Subdivisions":[{"GeoNameID":0,"IsoCode":"E","Names":null}],"#,
        r#""Traits":{"IsAnonymousProxy":false,"IsAnycast":false,"IsSatelliteProvider":false}}"#
    );
    assert_eq!(
        check(&mapping, r#"{"ip":"89.160.20.128"}"#).as_deref(),
        Ok(expected)
    );
    // The IPv4-mapped form is the same address.
    assert_eq!(
        check(&mapping, r#"{"ip":"::ffff:89.160.20.1"}"#).as_deref(),
        Ok(expected)
    );
    // A city database answers country lookups too.
    let country = format!(
        "root = this.ip.geoip_country({:?}).Country.IsoCode",
        path.display()
    );
    assert_eq!(
        check(&country, r#"{"ip":"89.160.20.1"}"#).as_deref(),
        Ok("SE")
    );
    // An address the database does not hold gives the empty record.
    let name = format!("root = this.ip.geoip_city({:?}).City", path.display());
    assert_eq!(
        check(&name, r#"{"ip":"10.0.0.1"}"#).as_deref(),
        Ok(r#"{"GeoNameID":0,"Names":null}"#)
    );
}

#[test]
fn failures_read_as_benthos_words_them() {
    let path = city_db();
    let asn = format!("root = this.ip.geoip_asn({:?})", path.display());
    assert_eq!(
        check(&asn, r#"{"ip":"89.160.20.1"}"#).unwrap_err(),
        "failed assignment (line 1): geoip2: the ASN method does not support the GeoLite2-City database"
    );
    let city = format!("root = this.ip.geoip_city({:?})", path.display());
    assert_eq!(
        check(&city, r#"{"ip":"nope"}"#).unwrap_err(),
        "failed assignment (line 1): value nope does not appear to be a valid v4 or v6 IP address"
    );
    assert_eq!(
        check(&city, r#"{"ip":"2001:db8::1"}"#).unwrap_err(),
        "failed assignment (line 1): error looking up '2001:db8::1': you attempted to look up an IPv6 address in an IPv4-only database"
    );
    assert_eq!(
        check(
            r#"root = "1.2.3.4".geoip_city("/nonexistent/x.mmdb")"#,
            "{}"
        )
        .unwrap_err(),
        "line 1 char 51: open /nonexistent/x.mmdb: no such file or directory"
    );
    let odd = write(
        "odd.mmdb",
        &database("Something-Else", [1, 2, 3], Mm::Map(vec![])),
    );
    let e = check(
        &format!("root = \"1.2.3.4\".geoip_city({:?})", odd.display()),
        "{}",
    )
    .unwrap_err();
    assert!(
        e.ends_with(r#"geoip2: reader does not support the "Something-Else" database type"#),
        "{e}"
    );
}

#[test]
fn the_other_database_kinds() {
    let asn = write(
        "asn.mmdb",
        &database(
            "GeoLite2-ASN",
            [1, 2, 3],
            Mm::Map(vec![
                ("autonomous_system_number", Mm::U32(64_512)),
                ("autonomous_system_organization", Mm::Str("Example")),
            ]),
        ),
    );
    assert_eq!(
        check(
            &format!("root = \"1.2.3.4\".geoip_asn({:?})", asn.display()),
            "{}"
        )
        .as_deref(),
        Ok(r#"{"AutonomousSystemNumber":64512,"AutonomousSystemOrganization":"Example"}"#)
    );
    let isp = write(
        "isp.mmdb",
        &database(
            "GeoIP2-ISP",
            [1, 2, 3],
            Mm::Map(vec![("isp", Mm::Str("Acme"))]),
        ),
    );
    assert_eq!(
        check(
            &format!("root = \"1.2.3.4\".geoip_isp({:?})", isp.display()),
            "{}"
        )
        .as_deref(),
        Ok(concat!(
            r#"{"AutonomousSystemNumber":0,"AutonomousSystemOrganization":"","ISP":"Acme","#,
            r#""MobileCountryCode":"","MobileNetworkCode":"","Organization":""}"#
        ))
    );
    // An ISP database answers ASN lookups.
    assert_eq!(
        check(
            &format!(
                "root = \"1.2.3.4\".geoip_asn({:?}).AutonomousSystemNumber",
                isp.display()
            ),
            "{}"
        )
        .as_deref(),
        Ok("0")
    );
    for (db_type, method, record, expected) in [
        (
            "GeoIP2-Anonymous-IP",
            "geoip_anonymous_ip",
            Mm::Map(vec![("is_tor_exit_node", Mm::Bool(true))]),
            concat!(
                r#"{"IsAnonymous":false,"IsAnonymousVPN":false,"IsHostingProvider":false,"#,
                r#""IsPublicProxy":false,"IsResidentialProxy":false,"IsTorExitNode":true}"#
            ),
        ),
        (
            "GeoIP2-Connection-Type",
            "geoip_connection_type",
            Mm::Map(vec![("connection_type", Mm::Str("Cable/DSL"))]),
            r#"{"ConnectionType":"Cable/DSL"}"#,
        ),
        (
            "GeoIP2-Domain",
            "geoip_domain",
            Mm::Map(vec![("domain", Mm::Str("example.com"))]),
            r#"{"Domain":"example.com"}"#,
        ),
    ] {
        let path = write(
            &format!("{method}.mmdb"),
            &database(db_type, [1, 2, 3], record),
        );
        assert_eq!(
            check(
                &format!("root = \"1.2.3.4\".{method}({:?})", path.display()),
                "{}"
            )
            .as_deref(),
            Ok(expected),
            "{method}"
        );
    }
    let enterprise = write(
        "enterprise.mmdb",
        &database(
            "GeoIP2-Enterprise",
            [1, 2, 3],
            Mm::Map(vec![(
                "traits",
                Mm::Map(vec![
                    ("static_ip_score", Mm::Double(0.5)),
                    ("user_type", Mm::Str("business")),
                ]),
            )]),
        ),
    );
    let mapping = format!(
        "root = \"1.2.3.4\".geoip_enterprise({:?}).with(\"Traits.StaticIPScore\", \"Traits.UserType\", \"City.Confidence\")",
        enterprise.display()
    );
    assert_eq!(
        check(&mapping, "{}").as_deref(),
        Ok(r#"{"City":{"Confidence":0},"Traits":{"StaticIPScore":0.5,"UserType":"business"}}"#)
    );
}
