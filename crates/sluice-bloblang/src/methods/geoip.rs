//! The `geoip_*` methods: look an IP address up in a MaxMind database.
//!
//! Connect decodes a record into the structs of Go's geoip2 reader and hands the mapping
//! their JSON, so every field of the struct is present (zero when the record lacks it, null
//! for absent name maps and lists) under its Go name. The shapes below are those structs.

use std::net::IpAddr;
use std::sync::Arc;

use crate::env::{Environment, Kind, MethodImpl, PrepareCx, p};
use crate::eval::{Call, Cx, Expr, Flow, R, This, err, type_err};
use crate::value::Value;

type Reader = maxminddb::Reader<Vec<u8>>;

/// The shape of a field of a Go geoip2 struct.
enum Shape {
    Str,
    Uint,
    Bool,
    Float,
    /// `map[string]string`: null when absent.
    Names,
    Object(&'static [Field]),
    /// A slice of structs: null when absent.
    List(&'static [Field]),
}

/// A Go field name, the database key it is read from, and its shape.
type Field = (&'static str, &'static str, Shape);

const CONTINENT: &[Field] = &[
    ("Names", "names", Shape::Names),
    ("Code", "code", Shape::Str),
    ("GeoNameID", "geoname_id", Shape::Uint),
];
const COUNTRY: &[Field] = &[
    ("Names", "names", Shape::Names),
    ("IsoCode", "iso_code", Shape::Str),
    ("GeoNameID", "geoname_id", Shape::Uint),
    ("IsInEuropeanUnion", "is_in_european_union", Shape::Bool),
];
const REPRESENTED_COUNTRY: &[Field] = &[
    ("Names", "names", Shape::Names),
    ("IsoCode", "iso_code", Shape::Str),
    ("Type", "type", Shape::Str),
    ("GeoNameID", "geoname_id", Shape::Uint),
    ("IsInEuropeanUnion", "is_in_european_union", Shape::Bool),
];
const BASIC_TRAITS: &[Field] = &[
    ("IsAnonymousProxy", "is_anonymous_proxy", Shape::Bool),
    ("IsAnycast", "is_anycast", Shape::Bool),
    ("IsSatelliteProvider", "is_satellite_provider", Shape::Bool),
];
const LOCATION: &[Field] = &[
    ("TimeZone", "time_zone", Shape::Str),
    ("Latitude", "latitude", Shape::Float),
    ("Longitude", "longitude", Shape::Float),
    ("MetroCode", "metro_code", Shape::Uint),
    ("AccuracyRadius", "accuracy_radius", Shape::Uint),
];

const COUNTRY_RECORD: &[Field] = &[
    ("Continent", "continent", Shape::Object(CONTINENT)),
    ("Country", "country", Shape::Object(COUNTRY)),
    (
        "RegisteredCountry",
        "registered_country",
        Shape::Object(COUNTRY),
    ),
    (
        "RepresentedCountry",
        "represented_country",
        Shape::Object(REPRESENTED_COUNTRY),
    ),
    ("Traits", "traits", Shape::Object(BASIC_TRAITS)),
];

const CITY_RECORD: &[Field] = &[
    (
        "City",
        "city",
        Shape::Object(&[
            ("Names", "names", Shape::Names),
            ("GeoNameID", "geoname_id", Shape::Uint),
        ]),
    ),
    (
        "Postal",
        "postal",
        Shape::Object(&[("Code", "code", Shape::Str)]),
    ),
    ("Continent", "continent", Shape::Object(CONTINENT)),
    (
        "Subdivisions",
        "subdivisions",
        Shape::List(&[
            ("Names", "names", Shape::Names),
            ("IsoCode", "iso_code", Shape::Str),
            ("GeoNameID", "geoname_id", Shape::Uint),
        ]),
    ),
    (
        "RepresentedCountry",
        "represented_country",
        Shape::Object(REPRESENTED_COUNTRY),
    ),
    ("Country", "country", Shape::Object(COUNTRY)),
    (
        "RegisteredCountry",
        "registered_country",
        Shape::Object(COUNTRY),
    ),
    ("Location", "location", Shape::Object(LOCATION)),
    ("Traits", "traits", Shape::Object(BASIC_TRAITS)),
];

const CONFIDENT_COUNTRY: &[Field] = &[
    ("Names", "names", Shape::Names),
    ("IsoCode", "iso_code", Shape::Str),
    ("GeoNameID", "geoname_id", Shape::Uint),
    ("Confidence", "confidence", Shape::Uint),
    ("IsInEuropeanUnion", "is_in_european_union", Shape::Bool),
];

const ENTERPRISE_RECORD: &[Field] = &[
    ("Continent", "continent", Shape::Object(CONTINENT)),
    (
        "City",
        "city",
        Shape::Object(&[
            ("Names", "names", Shape::Names),
            ("GeoNameID", "geoname_id", Shape::Uint),
            ("Confidence", "confidence", Shape::Uint),
        ]),
    ),
    (
        "Postal",
        "postal",
        Shape::Object(&[
            ("Code", "code", Shape::Str),
            ("Confidence", "confidence", Shape::Uint),
        ]),
    ),
    (
        "Subdivisions",
        "subdivisions",
        Shape::List(&[
            ("Names", "names", Shape::Names),
            ("IsoCode", "iso_code", Shape::Str),
            ("GeoNameID", "geoname_id", Shape::Uint),
            ("Confidence", "confidence", Shape::Uint),
        ]),
    ),
    (
        "RepresentedCountry",
        "represented_country",
        Shape::Object(REPRESENTED_COUNTRY),
    ),
    ("Country", "country", Shape::Object(CONFIDENT_COUNTRY)),
    (
        "RegisteredCountry",
        "registered_country",
        Shape::Object(CONFIDENT_COUNTRY),
    ),
    (
        "Traits",
        "traits",
        Shape::Object(&[
            (
                "AutonomousSystemOrganization",
                "autonomous_system_organization",
                Shape::Str,
            ),
            ("ConnectionType", "connection_type", Shape::Str),
            ("Domain", "domain", Shape::Str),
            ("ISP", "isp", Shape::Str),
            ("MobileCountryCode", "mobile_country_code", Shape::Str),
            ("MobileNetworkCode", "mobile_network_code", Shape::Str),
            ("Organization", "organization", Shape::Str),
            ("UserType", "user_type", Shape::Str),
            (
                "AutonomousSystemNumber",
                "autonomous_system_number",
                Shape::Uint,
            ),
            ("StaticIPScore", "static_ip_score", Shape::Float),
            ("IsAnonymousProxy", "is_anonymous_proxy", Shape::Bool),
            ("IsAnycast", "is_anycast", Shape::Bool),
            ("IsLegitimateProxy", "is_legitimate_proxy", Shape::Bool),
            ("IsSatelliteProvider", "is_satellite_provider", Shape::Bool),
        ]),
    ),
    ("Location", "location", Shape::Object(LOCATION)),
];

const ANONYMOUS_IP_RECORD: &[Field] = &[
    ("IsAnonymous", "is_anonymous", Shape::Bool),
    ("IsAnonymousVPN", "is_anonymous_vpn", Shape::Bool),
    ("IsHostingProvider", "is_hosting_provider", Shape::Bool),
    ("IsPublicProxy", "is_public_proxy", Shape::Bool),
    ("IsResidentialProxy", "is_residential_proxy", Shape::Bool),
    ("IsTorExitNode", "is_tor_exit_node", Shape::Bool),
];
const ASN_RECORD: &[Field] = &[
    (
        "AutonomousSystemOrganization",
        "autonomous_system_organization",
        Shape::Str,
    ),
    (
        "AutonomousSystemNumber",
        "autonomous_system_number",
        Shape::Uint,
    ),
];
const CONNECTION_TYPE_RECORD: &[Field] = &[("ConnectionType", "connection_type", Shape::Str)];
const DOMAIN_RECORD: &[Field] = &[("Domain", "domain", Shape::Str)];
const ISP_RECORD: &[Field] = &[
    (
        "AutonomousSystemOrganization",
        "autonomous_system_organization",
        Shape::Str,
    ),
    ("ISP", "isp", Shape::Str),
    ("MobileCountryCode", "mobile_country_code", Shape::Str),
    ("MobileNetworkCode", "mobile_network_code", Shape::Str),
    ("Organization", "organization", Shape::Str),
    (
        "AutonomousSystemNumber",
        "autonomous_system_number",
        Shape::Uint,
    ),
];

// What a database can answer, by its type, as Go's reader decides it.
const ANONYMOUS_IP: u8 = 1;
const ASN: u8 = 1 << 1;
const CITY: u8 = 1 << 2;
const CONNECTION_TYPE: u8 = 1 << 3;
const COUNTRY_KIND: u8 = 1 << 4;
const DOMAIN: u8 = 1 << 5;
const ENTERPRISE: u8 = 1 << 6;
const ISP: u8 = 1 << 7;

fn database_kinds(database_type: &str) -> Result<u8, String> {
    Ok(match database_type {
        "GeoIP2-Anonymous-IP" => ANONYMOUS_IP,
        "DBIP-ASN-Lite (compat=GeoLite2-ASN)" | "GeoLite2-ASN" => ASN,
        "DBIP-City-Lite"
        | "DBIP-Country-Lite"
        | "DBIP-Country"
        | "DBIP-Location (compat=City)"
        | "GeoLite2-City"
        | "GeoIP2-City"
        | "GeoIP2-City-Africa"
        | "GeoIP2-City-Asia-Pacific"
        | "GeoIP2-City-Europe"
        | "GeoIP2-City-North-America"
        | "GeoIP2-City-South-America"
        | "GeoIP2-Precision-City"
        | "GeoLite2-Country"
        | "GeoIP2-Country" => CITY | COUNTRY_KIND,
        "GeoIP2-Connection-Type" => CONNECTION_TYPE,
        "GeoIP2-Domain" => DOMAIN,
        "DBIP-ISP (compat=Enterprise)"
        | "DBIP-Location-ISP (compat=Enterprise)"
        | "GeoIP2-Enterprise" => ENTERPRISE | CITY | COUNTRY_KIND,
        "GeoIP2-ISP" | "GeoIP2-Precision-ISP" => ISP | ASN,
        other => {
            return Err(format!(
                "geoip2: reader does not support the {other:?} database type"
            ));
        }
    })
}

/// A method: its name, the Go reader's method name, what the database must support and the
/// record's shape.
struct Lookup {
    name: &'static str,
    go_method: &'static str,
    kind: u8,
    record: &'static [Field],
}

const LOOKUPS: [Lookup; 8] = [
    Lookup {
        name: "geoip_city",
        go_method: "City",
        kind: CITY,
        record: CITY_RECORD,
    },
    Lookup {
        name: "geoip_country",
        go_method: "Country",
        kind: COUNTRY_KIND,
        record: COUNTRY_RECORD,
    },
    Lookup {
        name: "geoip_asn",
        go_method: "ASN",
        kind: ASN,
        record: ASN_RECORD,
    },
    Lookup {
        name: "geoip_enterprise",
        go_method: "Enterprise",
        kind: ENTERPRISE,
        record: ENTERPRISE_RECORD,
    },
    Lookup {
        name: "geoip_anonymous_ip",
        go_method: "AnonymousIP",
        kind: ANONYMOUS_IP,
        record: ANONYMOUS_IP_RECORD,
    },
    Lookup {
        name: "geoip_connection_type",
        go_method: "ConnectionType",
        kind: CONNECTION_TYPE,
        record: CONNECTION_TYPE_RECORD,
    },
    Lookup {
        name: "geoip_domain",
        go_method: "Domain",
        kind: DOMAIN,
        record: DOMAIN_RECORD,
    },
    Lookup {
        name: "geoip_isp",
        go_method: "ISP",
        kind: ISP,
        record: ISP_RECORD,
    },
];

/// A database opened with its type checked, as Go's `geoip2.Open` does.
struct Database {
    reader: Reader,
    kinds: u8,
}

fn open(path: &str) -> Result<Arc<Database>, String> {
    let reader = Reader::open_readfile(path).map_err(|e| match e {
        maxminddb::MaxMindDbError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
            format!("open {path}: no such file or directory")
        }
        other => format!("open {path}: {other}"),
    })?;
    let kinds = database_kinds(&reader.metadata().database_type)?;
    Ok(Arc::new(Database { reader, kinds }))
}

/// A value of the record shaped as the Go struct's JSON.
fn shape(fields: &[Field], record: Option<&serde_json::Value>) -> Value {
    let map = record.and_then(serde_json::Value::as_object);
    Value::Object(
        fields
            .iter()
            .map(|(go, key, kind)| {
                let v = map.and_then(|m| m.get(*key));
                ((*go).to_owned(), shape_one(kind, v))
            })
            .collect(),
    )
}

fn shape_one(kind: &Shape, v: Option<&serde_json::Value>) -> Value {
    use serde_json::Value as J;
    match (kind, v) {
        (Shape::Str, Some(J::String(s))) => Value::String(s.clone().into()),
        (Shape::Str, _) => Value::String(String::new().into()),
        (Shape::Uint, Some(J::Number(n))) => Value::Int(n.as_i64().unwrap_or_default()),
        (Shape::Uint, _) => Value::Int(0),
        (Shape::Bool, Some(J::Bool(b))) => Value::Bool(*b),
        (Shape::Bool, _) => Value::Bool(false),
        (Shape::Float, Some(J::Number(n))) => Value::Float(n.as_f64().unwrap_or_default()),
        (Shape::Float, _) => Value::Float(0.0),
        (Shape::Names, Some(J::Object(m))) => Value::Object(
            m.iter()
                .filter_map(|(k, v)| {
                    v.as_str()
                        .map(|s| (k.clone(), Value::String(s.to_owned().into())))
                })
                .collect(),
        ),
        (Shape::Names, _) => Value::Null,
        (Shape::Object(fields), v) => shape(fields, v),
        (Shape::List(fields), Some(J::Array(items))) => {
            Value::Array(items.iter().map(|item| shape(fields, Some(item))).collect())
        }
        (Shape::List(_), _) => Value::Null,
    }
}

fn lookup(db: &Database, method: &Lookup, text: &str) -> Result<Value, String> {
    if db.kinds & method.kind == 0 {
        return Err(format!(
            "geoip2: the {} method does not support the {} database",
            method.go_method,
            db.reader.metadata().database_type
        ));
    }
    let ip: IpAddr = text
        .parse()
        .map_err(|_| format!("value {text} does not appear to be a valid v4 or v6 IP address"))?;
    // Go treats an IPv4-mapped IPv6 address as the IPv4 address.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    };
    if ip.is_ipv6() && db.reader.metadata().ip_version == 4 {
        return Err(format!(
            "error looking up '{ip}': you attempted to look up an IPv6 address in an IPv4-only database"
        ));
    }
    let found = db
        .reader
        .lookup(ip)
        .and_then(|r| r.decode::<serde_json::Value>())
        .map_err(|e| e.to_string())?;
    // An address the database does not hold reads as an empty record, as in Go.
    Ok(shape(method.record, found.as_ref()))
}

/// The database of a literal path is opened once, when the mapping is parsed; a failure to
/// open it is then a parse error, as in Benthos.
fn prepare(args: &[Expr], _: &PrepareCx<'_>) -> Result<Vec<Expr>, String> {
    if let Expr::Lit(Value::String(path)) = &args[0] {
        open(path)?;
    }
    Ok(Vec::new())
}

fn run(cx: &mut Cx<'_>, this: This<'_>, call: &Call, method: &Lookup) -> R<Value> {
    let target = call.target(cx, this)?;
    let text = match &target {
        Value::String(s) => s.clone(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned().into(),
        other => return err(type_err("string", other)),
    };
    let db = match &call.args[0] {
        Expr::Lit(Value::String(path)) => call
            .memo
            .get_or_init(|| Box::new(open(path)))
            .downcast_ref::<Result<Arc<Database>, String>>()
            .expect("the memo of a geoip method holds its database")
            .clone(),
        _ => match call.arg(0, cx, this)? {
            Value::String(path) => open(&path),
            other => return err(format!("field path: {}", type_err("string", &other))),
        },
    }
    .map_err(Flow::Err)?;
    lookup(&db, method, &text).map_err(Flow::Err)
}

macro_rules! lookup_fn {
    ($fn_name:ident, $idx:expr) => {
        fn $fn_name(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
            run(cx, this, call, &LOOKUPS[$idx])
        }
    };
}

lookup_fn!(geoip_city, 0);
lookup_fn!(geoip_country, 1);
lookup_fn!(geoip_asn, 2);
lookup_fn!(geoip_enterprise, 3);
lookup_fn!(geoip_anonymous_ip, 4);
lookup_fn!(geoip_connection_type, 5);
lookup_fn!(geoip_domain, 6);
lookup_fn!(geoip_isp, 7);

pub(crate) fn register(env: &mut Environment) {
    let imps: [crate::env::CtxFn; 8] = [
        geoip_city,
        geoip_country,
        geoip_asn,
        geoip_enterprise,
        geoip_anonymous_ip,
        geoip_connection_type,
        geoip_domain,
        geoip_isp,
    ];
    let descriptions: [&str; 8] = [
        "Looks an IP address up in a MaxMind database file and returns the city it belongs to.",
        "Looks an IP address up in a MaxMind database file and returns its country.",
        "Looks an IP address up in a MaxMind database file and returns its ASN.",
        "Looks an IP address up in a MaxMind database file and returns its enterprise record.",
        "Looks an IP address up in a MaxMind database file and returns its anonymous IP record.",
        "Looks an IP address up in a MaxMind database file and returns its connection type.",
        "Looks an IP address up in a MaxMind database file and returns its domain.",
        "Looks an IP address up in a MaxMind database file and returns its ISP.",
    ];
    for ((method, imp), description) in LOOKUPS.iter().zip(imps).zip(descriptions) {
        env.method(
            method.name,
            "GeoIP",
            description,
            vec![p("path", Kind::Str)],
            vec![],
            MethodImpl::Ctx(imp),
        );
        env.prepare_method(method.name, prepare);
    }
}

#[cfg(test)]
mod tests;
