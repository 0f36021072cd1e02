//! `parse_parquet`: a Parquet file's bytes to an array of row objects.
//!
//! Values come out as Benthos's Go reader (parquet-go reading into `any`) renders them, which
//! is mostly the stored physical value:
//! - BOOLEAN is a bool; INT32 and INT64 are integers, whatever their annotation (DATE is days
//!   since the epoch, TIME and TIMESTAMP are counts of their unit, DECIMAL is the unscaled
//!   integer). Unsigned 32 and 64 bit values are read back as the signed integers of the same
//!   width, as in Benthos.
//! - FLOAT and DOUBLE are numbers; a FLOAT prints as its shortest 32-bit decimal form.
//! - BYTE_ARRAY is a string whatever its annotation (UTF8, ENUM, BSON, DECIMAL or none),
//!   except JSON, which is parsed. FIXED_LEN_BYTE_ARRAY (UUID, FLOAT16, DECIMAL) is bytes.
//! - Groups are objects, LIST and repeated fields are arrays, MAP is an object, and a missing
//!   optional value is null.
//!
//! INT96 (legacy timestamps) and INTERVAL columns are refused as not supported yet.

use crate::value::Map;
use std::sync::Arc;

use parquet::basic::{ConvertedType, Repetition, Type as PhysicalType};
use parquet::file::reader::{FileReader as _, SerializedFileReader};
use parquet::record::Field;
use parquet::schema::types::Type;

use crate::env::{Environment, Kind, MethodImpl, ex, opt};
use crate::eval::type_err;
use crate::value::Value;

/// Checks that the record reader can assemble every column of the schema. The reader asserts
/// (panics) on shapes and annotations it cannot handle, so those are refused here first.
fn check_schema(node: &Type, is_root: bool) -> Result<(), String> {
    let info = node.get_basic_info();
    let name = node.name();
    if !is_root && !info.has_repetition() {
        return Err(format!("parquet field `{name}` has no repetition"));
    }
    if node.is_primitive() {
        return check_leaf(node);
    }
    let fields = node.get_fields();
    match info.converted_type() {
        ConvertedType::LIST => {
            let [repeated] = fields else {
                return Err(format!("parquet list `{name}` must have exactly one field"));
            };
            check_repeated(repeated, name)?;
            if !is_element_type(repeated) && repeated.get_fields().is_empty() {
                return Err(format!("parquet list `{name}` has an empty element group"));
            }
        }
        ConvertedType::MAP | ConvertedType::MAP_KEY_VALUE => {
            let [key_value] = fields else {
                return Err(format!("parquet map `{name}` must have exactly one field"));
            };
            if key_value.is_primitive() || !matches!(key_value.get_fields().len(), 1 | 2) {
                return Err(format!(
                    "parquet map `{name}` must hold a group of a key and a value"
                ));
            }
            check_repeated(key_value, name)?;
        }
        _ if fields.is_empty() && !is_root => {
            return Err(format!("parquet group `{name}` has no fields"));
        }
        _ => {}
    }
    fields
        .iter()
        .try_for_each(|child| check_schema(child, false))
}

fn check_repeated(node: &Type, parent: &str) -> Result<(), String> {
    let info = node.get_basic_info();
    if info.has_repetition() && info.repetition() == Repetition::REPEATED {
        Ok(())
    } else {
        Err(format!(
            "parquet field `{parent}` must hold a repeated field"
        ))
    }
}

/// The annotations the record reader converts for each physical type.
fn check_leaf(node: &Type) -> Result<(), String> {
    use ConvertedType as C;
    let physical = node.get_physical_type();
    let converted = node.get_basic_info().converted_type();
    let supported = match physical {
        PhysicalType::BOOLEAN | PhysicalType::FLOAT | PhysicalType::DOUBLE => true,
        PhysicalType::INT32 => matches!(
            converted,
            C::NONE
                | C::INT_8
                | C::INT_16
                | C::INT_32
                | C::UINT_8
                | C::UINT_16
                | C::UINT_32
                | C::DATE
                | C::TIME_MILLIS
                | C::DECIMAL
        ),
        PhysicalType::INT64 => matches!(
            converted,
            C::NONE
                | C::INT_64
                | C::UINT_64
                | C::TIME_MICROS
                | C::TIMESTAMP_MILLIS
                | C::TIMESTAMP_MICROS
                | C::DECIMAL
        ),
        PhysicalType::BYTE_ARRAY => matches!(
            converted,
            C::NONE | C::UTF8 | C::ENUM | C::JSON | C::BSON | C::DECIMAL
        ),
        PhysicalType::FIXED_LEN_BYTE_ARRAY => matches!(converted, C::NONE | C::DECIMAL),
        PhysicalType::INT96 => false,
    };
    if supported {
        Ok(())
    } else {
        let annotation = match converted {
            C::NONE => String::new(),
            other => format!(" ({other})"),
        };
        Err(format!(
            "parquet column `{}` of type {physical}{annotation} is not supported yet",
            node.name()
        ))
    }
}

/// Whether the repeated field of a LIST group is itself the element (the legacy two-level
/// layouts), following the rules of the record reader.
fn is_element_type(repeated: &Type) -> bool {
    repeated.is_primitive()
        || repeated.get_fields().len() > 1
        || repeated.name() == "array"
        || repeated.name().ends_with("_tuple")
}

/// The schema node of the elements of a list field read from `node`.
fn list_element(node: &Type) -> Option<&Type> {
    match node.get_basic_info().converted_type() {
        ConvertedType::LIST => {
            let repeated = node.get_fields().first()?;
            if is_element_type(repeated) {
                Some(repeated)
            } else {
                repeated.get_fields().first().map(Arc::as_ref)
            }
        }
        // A map whose key-value group has a key only reads as a list of keys.
        ConvertedType::MAP | ConvertedType::MAP_KEY_VALUE => node
            .get_fields()
            .first()?
            .get_fields()
            .first()
            .map(Arc::as_ref),
        // A repeated field outside a LIST is a list of its own type.
        _ => Some(node),
    }
}

/// The schema nodes of the keys and values of a map field read from `node`.
fn map_entry(node: &Type) -> (Option<&Type>, Option<&Type>) {
    let key_value = node.get_fields().first();
    let field = |i: usize| {
        key_value
            .and_then(|kv| kv.get_fields().get(i))
            .map(Arc::as_ref)
    };
    (field(0), field(1))
}

/// A float as its shortest 32-bit decimal form, which is how Go prints a `float32`.
fn float32(f: f32) -> Value {
    Value::Float(f.to_string().parse::<f64>().unwrap_or(f64::from(f)))
}

fn lossy(bytes: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(bytes).into_owned().into())
}

/// Converts one field read against schema node `node` (absent if the shapes disagree, in which
/// case the value is rendered from the field alone).
fn to_value(field: &Field, node: Option<&Type>) -> Result<Value, String> {
    let leaf = node.filter(|n| n.is_primitive());
    let physical = leaf.map(|n| n.get_physical_type());
    let converted = leaf.map(|n| n.get_basic_info().converted_type());
    Ok(match field {
        Field::Null => Value::Null,
        Field::Bool(b) => Value::Bool(*b),
        Field::Byte(i) => Value::Int(i64::from(*i)),
        Field::Short(i) => Value::Int(i64::from(*i)),
        Field::Int(i) | Field::Date(i) | Field::TimeMillis(i) => Value::Int(i64::from(*i)),
        Field::Long(i)
        | Field::TimeMicros(i)
        | Field::TimestampMillis(i)
        | Field::TimestampMicros(i) => Value::Int(*i),
        Field::UByte(u) => Value::Int(i64::from(*u)),
        Field::UShort(u) => Value::Int(i64::from(*u)),
        // Go reads the stored bits into a signed integer of the same width.
        Field::UInt(u) => Value::Int(i64::from(*u as i32)),
        Field::ULong(u) => Value::Int(*u as i64),
        Field::Float16(h) => Value::Bytes(h.to_le_bytes().to_vec()),
        Field::Float(f) => float32(*f),
        Field::Double(f) => Value::Float(*f),
        Field::Decimal(d) => {
            let data = d.data();
            match physical {
                Some(PhysicalType::INT32) => Value::Int(i64::from(i32::from_be_bytes(
                    data.try_into()
                        .map_err(|_| "parquet INT32 decimal is not 4 bytes".to_owned())?,
                ))),
                Some(PhysicalType::INT64) => Value::Int(i64::from_be_bytes(
                    data.try_into()
                        .map_err(|_| "parquet INT64 decimal is not 8 bytes".to_owned())?,
                )),
                Some(PhysicalType::BYTE_ARRAY) => lossy(data),
                _ => Value::Bytes(data.to_vec()),
            }
        }
        Field::Str(s) if converted == Some(ConvertedType::JSON) => {
            Value::from_json_bytes(s.as_bytes()).map_err(|e| {
                let name = leaf.map_or("", |n| n.name());
                format!("parquet JSON column `{name}`: {e}")
            })?
        }
        Field::Str(s) => Value::String(s.clone().into()),
        Field::Bytes(b) => match physical {
            Some(PhysicalType::FIXED_LEN_BYTE_ARRAY) | None => Value::Bytes(b.data().to_vec()),
            Some(_) => lossy(b.data()),
        },
        Field::Group(row) => {
            let children = node.filter(|n| n.is_group()).map(|n| n.get_fields());
            let mut map = Map::new();
            for (i, (name, child)) in row.get_column_iter().enumerate() {
                let child_node = children.and_then(|c| c.get(i)).map(Arc::as_ref);
                map.insert(name.as_str(), to_value(child, child_node)?);
            }
            Value::Object(map)
        }
        Field::ListInternal(list) => {
            let element = node.and_then(list_element);
            let items = list.elements().iter().map(|e| to_value(e, element));
            Value::Array(items.collect::<Result<_, _>>()?)
        }
        Field::MapInternal(map) => {
            let (key_node, value_node) = node.map_or((None, None), map_entry);
            let mut out = Map::new();
            for (key, value) in map.entries() {
                let key = match to_value(key, key_node)? {
                    Value::String(s) => s,
                    other => other.to_interp_string().into(),
                };
                out.insert(key.as_str(), to_value(value, value_node)?);
            }
            Value::Object(out)
        }
    })
}

/// Decodes every row of the file in `bytes`.
fn decode(bytes: Vec<u8>) -> Result<Value, String> {
    let fail = |e: parquet::errors::ParquetError| format!("failed to read parquet data: {e}");
    let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).map_err(fail)?;
    let schema = reader.metadata().file_metadata().schema();
    check_schema(schema, true)?;
    let mut rows = Vec::new();
    for row in reader.get_row_iter(None).map_err(fail)? {
        let row = row.map_err(fail)?;
        rows.push(to_value(&Field::Group(row), Some(schema))?);
    }
    Ok(Value::Array(rows))
}

fn parse_parquet(v: Value, _: &[Value]) -> Result<Value, String> {
    let bytes = match v {
        Value::Bytes(b) => b,
        Value::String(s) => s.as_bytes().to_vec(),
        other => return Err(type_err("bytes", &other)),
    };
    // `check_schema` turns every schema shape the reader is known to assert on into an error;
    // this catches what is left (a corrupt page the reader trips over), as Benthos recovers
    // from its Go reader's panics.
    crate::recovered_panic::recover(move || decode(bytes)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "the file is corrupt".to_owned());
        Err(format!("failed to read parquet data: {why}"))
    })
}

/// A file of two rows (`id` INT64, `name` UTF8, `score` optional DOUBLE with one null, `tags`
/// a LIST of UTF8) written by the `parquet` crate, base64 encoded.
const EXAMPLE_FILE: &str = "UEFSMRUEFSAVIEwVBBUAEgAAAQAAAAAAAAACAAAAAAAAABUAFQYVBiwVBBUQFQYVBgAAAQMCFQQVJhUmTBUEFQASAAAFAAAAZmlyc3QGAAAAc2Vjb25kFQAVBhUGLBUEFRAVBhUGAAABAwIVBBUQFRBMFQIVABIAAAAAAAAAAPg/FQAVEBUQLBUEFRAVBhUGAAACAAAAAwEAAhUEFRQVFEwVBBUAEgAAAQAAAGEBAAAAYhUAFR4VHiwVBhUQFQYVBgAAAgAAAAMCAgAAAAMDAQMCGRICGRgIAQAAAAAAAAAZGAgCAAAAAAAAABUCGRYAABkSAhkYBWZpcnN0GRgGc2Vjb25kFQIZFgAAGRICGRgIAAAAAAAA+D8ZGAgAAAAAAAD4PxUCGRYCKSYCAhkWAAAZEgIZGAFhGRgBYhUCGRYCGSYEAhkmAgQAGRwWRBUoFgAAABkcFq4BFSgWAAAZFhYAGRwWggIVMhYAAAAZHBbkAhVAFgAAGRYEABUCGXxIB2V4YW1wbGUVCAAVBCUAGAJpZAAVDCUAGARuYW1lJQAAFQolAhgFc2NvcmUANQAYBHRhZ3MVAhUGTDwAAAA1BBgEbGlzdBUCABUMJQAYB2VsZW1lbnQlAAAWBBkcGUwmABwVBBk1AAYQGRgCaWQVABYEFmQWZCZEJggcGAgCAAAAAAAAABgIAQAAAAAAAAAWACgIAgAAAAAAAAAYCAEAAAAAAAAAEREAGSwVBBUAFQIAFQAVEBUCAAAWlAUVFBakAxU+ACYAHBUMGTUABhAZGARuYW1lFQAWBBZqFmomrgEmbBw2ACgGc2Vjb25kGAVmaXJzdBERABksFQQVABUCABUAFRAVAgA8FhYAABaoBRUcFuIDFTQAJgAcFQoZNQAGEBkYBXNjb3JlFQAWBBZeFl4mggIm1gEcNgIoCAAAAAAAAPg/GAgAAAAAAAD4PxERFgAAGSwVBBUAFQIAFQAVEBUCADw5JgICAAAWxAUVFhaWBBVMACYAHBUMGTUABhAZOAR0YWdzBGxpc3QHZWxlbWVudBUAFgYWcBZwJuQCJrQCHDYCKAFiGAFhEREAGSwVBBUAFQIAFQAVEBUCADwWBBkmBAIZJgIEAAAW2gUVHBbiBBUyABacAxYEJggWnAMUAAAoGXBhcnF1ZXQtcnMgdmVyc2lvbiA2MC4xLjAZTBwAABwAACwAABwAAAARAgAAUEFSMQ==";

pub(crate) fn register(env: &mut Environment) {
    let examples = vec![
        ex("root = content().parse_parquet()", &[]),
        ex(
            "root = content().parse_parquet(byte_array_as_string: true)",
            &[],
        ),
        ex(
            r#"root = content().decode("base64").parse_parquet()"#,
            &[(EXAMPLE_FILE, EXAMPLE_ROWS)],
        ),
    ];
    env.method(
        "parse_parquet",
        "Parsing",
        "Decodes a Parquet file into an array of objects, one for each row within the file. \
         BYTE_ARRAY values are strings (JSON ones parsed), FIXED_LEN_BYTE_ARRAY values bytes, and \
         integers, dates, times and timestamps their stored numbers. `byte_array_as_string` is \
         deprecated and has no effect, as in Benthos.",
        vec![opt("byte_array_as_string", Kind::Bool, Value::Bool(false))],
        examples,
        MethodImpl::Simple(parse_parquet),
    );
}

const EXAMPLE_ROWS: &str = r#"[{"id":1,"name":"first","score":1.5,"tags":["a","b"]},{"id":2,"name":"second","score":null,"tags":[]}]"#;

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use parquet::basic::Compression;
    use parquet::data_type::{ByteArray, FixedLenByteArray, Int96};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;

    use super::*;
    use crate::mapping::Mapping;
    use crate::target::SimpleMessage;

    /// The values of one leaf column with their definition and repetition levels.
    enum Col {
        Bool(Vec<bool>),
        I32(Vec<i32>),
        I64(Vec<i64>),
        F32(Vec<f32>),
        F64(Vec<f64>),
        Bytes(Vec<&'static [u8]>),
        Fixed(Vec<&'static [u8]>),
        I96(Vec<[u32; 3]>),
    }

    struct Column {
        values: Col,
        def: Option<Vec<i16>>,
        rep: Option<Vec<i16>>,
    }

    fn col(values: Col) -> Column {
        Column {
            values,
            def: None,
            rep: None,
        }
    }

    fn levels(values: Col, def: &[i16], rep: &[i16]) -> Column {
        Column {
            values,
            def: Some(def.to_vec()),
            rep: (!rep.is_empty()).then(|| rep.to_vec()),
        }
    }

    /// Writes one row group with the `parquet` crate's own writer.
    fn write(schema: &str, columns: Vec<Column>, compression: Compression) -> Vec<u8> {
        use parquet::column::writer::ColumnWriter as W;
        let schema = Arc::new(parse_message_type(schema).unwrap());
        let props = Arc::new(
            WriterProperties::builder()
                .set_compression(compression)
                .build(),
        );
        let mut out = Vec::new();
        let mut writer = SerializedFileWriter::new(&mut out, schema, props).unwrap();
        let mut group = writer.next_row_group().unwrap();
        let mut columns = columns.into_iter();
        while let Some(mut writer) = group.next_column().unwrap() {
            let column = columns.next().expect("a column per leaf");
            let (def, rep) = (column.def.as_deref(), column.rep.as_deref());
            match (writer.untyped(), column.values) {
                (W::BoolColumnWriter(w), Col::Bool(v)) => w.write_batch(&v, def, rep),
                (W::Int32ColumnWriter(w), Col::I32(v)) => w.write_batch(&v, def, rep),
                (W::Int64ColumnWriter(w), Col::I64(v)) => w.write_batch(&v, def, rep),
                (W::FloatColumnWriter(w), Col::F32(v)) => w.write_batch(&v, def, rep),
                (W::DoubleColumnWriter(w), Col::F64(v)) => w.write_batch(&v, def, rep),
                (W::ByteArrayColumnWriter(w), Col::Bytes(v)) => {
                    let v: Vec<ByteArray> = v.into_iter().map(ByteArray::from).collect();
                    w.write_batch(&v, def, rep)
                }
                (W::FixedLenByteArrayColumnWriter(w), Col::Fixed(v)) => {
                    let v: Vec<FixedLenByteArray> = v
                        .into_iter()
                        .map(|b| FixedLenByteArray::from(b.to_vec()))
                        .collect();
                    w.write_batch(&v, def, rep)
                }
                (W::Int96ColumnWriter(w), Col::I96(v)) => {
                    let v: Vec<Int96> = v
                        .into_iter()
                        .map(|[a, b, c]| {
                            let mut i = Int96::new();
                            i.set_data(a, b, c);
                            i
                        })
                        .collect();
                    w.write_batch(&v, def, rep)
                }
                _ => panic!("column values do not match the schema"),
            }
            .unwrap();
            writer.close().unwrap();
        }
        group.close().unwrap();
        writer.close().unwrap();
        out
    }

    /// Runs `mapping` with the file as the message and returns the result as JSON text.
    fn check(mapping: &str, file: &[u8]) -> Result<String, String> {
        let mapping = Mapping::parse(mapping).map_err(|e| e.to_string())?;
        let batch = [SimpleMessage::new(file.to_vec())];
        let out = mapping.exec(&batch[..], 0).map_err(|e| e.to_string())?;
        match out.root {
            crate::Root::Value(v) => Ok(String::from_utf8(v.to_message_bytes()).unwrap()),
            other => Err(format!("unexpected root {other:?}")),
        }
    }

    fn parse(file: &[u8]) -> Result<String, String> {
        check("root = content().parse_parquet()", file)
    }

    fn example_file() -> Vec<u8> {
        write(
            "message example {
                required int64 id;
                required binary name (UTF8);
                optional double score;
                required group tags (LIST) { repeated group list { required binary element (UTF8); } }
            }",
            vec![
                col(Col::I64(vec![1, 2])),
                col(Col::Bytes(vec![b"first", b"second"])),
                levels(Col::F64(vec![1.5]), &[1, 0], &[]),
                levels(Col::Bytes(vec![b"a", b"b"]), &[1, 1, 0], &[0, 1, 0]),
            ],
            Compression::UNCOMPRESSED,
        )
    }

    #[test]
    fn registered_example_file_decodes_like_a_fresh_one() {
        use base64::Engine as _;
        let fresh = example_file();
        assert_eq!(parse(&fresh).as_deref(), Ok(EXAMPLE_ROWS));
        let stored = base64::engine::general_purpose::STANDARD
            .decode(EXAMPLE_FILE)
            .unwrap();
        assert_eq!(
            parse(&stored).as_deref(),
            Ok(EXAMPLE_ROWS),
            "regenerate EXAMPLE_FILE from: {}",
            base64::engine::general_purpose::STANDARD.encode(&fresh)
        );
    }

    #[test]
    fn benthos_rows_with_plain_byte_arrays_as_strings() {
        // The file of Benthos's own parse_parquet test: a plain BYTE_ARRAY reads as a string.
        let file = write(
            "message test {
                required int64 ID; required int64 A; required int64 B; required int64 C;
                required binary D (UTF8); required binary E;
            }",
            vec![
                col(Col::I64(vec![1, 2])),
                col(Col::I64(vec![11, 12])),
                col(Col::I64(vec![21, 22])),
                col(Col::I64(vec![31, 32])),
                col(Col::Bytes(vec![b"first", b"second"])),
                col(Col::Bytes(vec![b"first", b"second"])),
            ],
            Compression::UNCOMPRESSED,
        );
        let want = r#"[{"A":11,"B":21,"C":31,"D":"first","E":"first","ID":1},{"A":12,"B":22,"C":32,"D":"second","E":"second","ID":2}]"#;
        assert_eq!(parse(&file).as_deref(), Ok(want));
        let flagged = check(
            "root = content().parse_parquet(byte_array_as_string: true)",
            &file,
        );
        assert_eq!(flagged.as_deref(), Ok(want));
    }

    #[test]
    fn each_type_renders_as_benthos_does() {
        let file = write(
            "message types {
                required boolean flag;
                required int32 small (INT_8);
                required int32 unsigned (UINT_32);
                required int64 big_unsigned (UINT_64);
                required int32 day (DATE);
                required int64 at (TIMESTAMP_MILLIS);
                required int64 at_nanos (TIMESTAMP(NANOS,true));
                required int32 price (DECIMAL(9,2));
                required float ratio;
                required double exact;
                required binary colour (ENUM);
                required binary doc (JSON);
                required fixed_len_byte_array(16) id (UUID);
                optional binary missing (UTF8);
            }",
            vec![
                col(Col::Bool(vec![true])),
                col(Col::I32(vec![-5])),
                col(Col::I32(vec![-1])),
                col(Col::I64(vec![-2])),
                col(Col::I32(vec![19000])),
                col(Col::I64(vec![1_700_000_000_123])),
                col(Col::I64(vec![1_700_000_000_123_456_789])),
                col(Col::I32(vec![12345])),
                col(Col::F32(vec![1.1])),
                col(Col::F64(vec![0.1])),
                col(Col::Bytes(vec![b"RED"])),
                col(Col::Bytes(vec![br#"{"b":[1,2],"a":"x"}"#])),
                col(Col::Fixed(vec![&[0xab; 16]])),
                levels(Col::Bytes(vec![]), &[0], &[]),
            ],
            Compression::UNCOMPRESSED,
        );
        // UINT_32 0xffffffff and UINT_64 0xff..fe read back signed, as Go's reader does.
        assert_eq!(
            parse(&file).as_deref(),
            Ok(concat!(
                r#"[{"at":1700000000123,"at_nanos":1700000000123456789,"big_unsigned":-2,"#,
                r#""colour":"RED","day":19000,"doc":{"a":"x","b":[1,2]},"exact":0.1,"flag":true,"#,
                r#""id":"q6urq6urq6urq6urq6urqw==","missing":null,"price":12345,"ratio":1.1,"#,
                r#""small":-5,"unsigned":-1}]"#
            ))
        );
    }

    #[test]
    fn nested_lists_maps_and_groups() {
        let file = write(
            "message nested {
                optional group nums (LIST) { repeated group list { optional int32 element; } }
                repeated int32 plain;
                optional group attrs (MAP) {
                    repeated group key_value { required binary key (UTF8); optional int64 value; }
                }
                optional group inner { required binary label (UTF8); optional group deeper { required boolean on; } }
            }",
            vec![
                // Row 1: [1, null, 3]; row 2: null list; row 3: empty list.
                levels(Col::I32(vec![1, 3]), &[3, 2, 3, 0, 1], &[0, 1, 1, 0, 0]),
                levels(Col::I32(vec![7, 8, 9]), &[1, 1, 0, 1], &[0, 1, 0, 0]),
                levels(Col::Bytes(vec![b"a", b"b"]), &[2, 2, 0, 1], &[0, 1, 0, 0]),
                levels(Col::I64(vec![10]), &[3, 2, 0, 1], &[0, 1, 0, 0]),
                levels(Col::Bytes(vec![b"x", b"y"]), &[1, 0, 1], &[]),
                levels(Col::Bool(vec![true]), &[2, 0, 1], &[]),
            ],
            Compression::UNCOMPRESSED,
        );
        assert_eq!(
            parse(&file).as_deref(),
            Ok(concat!(
                r#"[{"attrs":{"a":10,"b":null},"inner":{"deeper":{"on":true},"label":"x"},"nums":[1,null,3],"plain":[7,8]},"#,
                r#"{"attrs":null,"inner":null,"nums":null,"plain":[]},"#,
                r#"{"attrs":{},"inner":{"deeper":null,"label":"y"},"nums":[],"plain":[9]}]"#
            ))
        );
    }

    #[test]
    fn compressed_files_decode() {
        for compression in [
            Compression::SNAPPY,
            Compression::GZIP(Default::default()),
            Compression::LZ4_RAW,
            Compression::ZSTD(Default::default()),
        ] {
            let file = write(
                "message c { required binary s (UTF8); }",
                vec![col(Col::Bytes(vec![b"compressed"; 3]))],
                compression,
            );
            assert_eq!(
                parse(&file).as_deref(),
                Ok(r#"[{"s":"compressed"},{"s":"compressed"},{"s":"compressed"}]"#),
                "{compression}"
            );
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let err = parse(b"hello world lol").unwrap_err();
        assert!(err.contains("failed to read parquet data"), "{err}");
        let err = check("root = 5.parse_parquet()", b"{}").unwrap_err();
        assert!(err.contains("expected bytes value, got number"), "{err}");
        let file = example_file();
        // Every truncation and a sweep of single corrupted bytes fail cleanly or decode.
        let clean = |res: Result<String, String>| match res {
            Ok(_) => {}
            Err(e) => assert!(e.contains("parquet"), "{e}"),
        };
        for len in 0..file.len() {
            clean(parse(&file[..len]));
        }
        for i in 0..file.len() {
            let mut bad = file.clone();
            bad[i] ^= 0x5a;
            clean(parse(&bad));
        }
    }

    #[test]
    fn a_file_without_rows_is_an_empty_array() {
        let file = write(
            "message empty { required int64 id; }",
            vec![col(Col::I64(vec![]))],
            Compression::UNCOMPRESSED,
        );
        assert_eq!(parse(&file).as_deref(), Ok("[]"));
    }

    #[test]
    fn unsupported_columns_are_named() {
        let file = write(
            "message legacy { required int96 at; }",
            vec![col(Col::I96(vec![[0, 0, 2_440_588]]))],
            Compression::UNCOMPRESSED,
        );
        let err = parse(&file).unwrap_err();
        assert!(
            err.contains("parquet column `at` of type INT96 is not supported yet"),
            "{err}"
        );
    }
}
