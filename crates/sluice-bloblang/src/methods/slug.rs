//! `slug`: URL slugs as Connect makes them, with per-language substitutions.

use crate::env::{Environment, Kind, MethodImpl, ex, opt};
use crate::methods::text;
use crate::value::Value;

/// Removed or replaced in every language, before transliteration.
const COMMON: &[(char, &str)] = &[
    ('"', ""),
    ('\'', ""),
    ('’', ""),
    ('‒', "-"),
    ('–', "-"),
    ('—', "-"),
    ('―', "-"),
];

const EN: &[(char, &str)] = &[('&', "and"), ('@', "at")];
const CS: &[(char, &str)] = &[('&', "a"), ('@', "zavinac")];
const DE: &[(char, &str)] = &[
    ('&', "und"),
    ('@', "an"),
    ('ä', "ae"),
    ('Ä', "Ae"),
    ('ö', "oe"),
    ('Ö', "Oe"),
    ('ü', "ue"),
    ('Ü', "Ue"),
];
const ES: &[(char, &str)] = &[('&', "y"), ('@', "en")];
const FI: &[(char, &str)] = &[('&', "ja"), ('@', "at")];
const FR: &[(char, &str)] = &[('&', "et"), ('@', "arobase")];
const GR: &[(char, &str)] = &[('&', "kai")];
const ID: &[(char, &str)] = &[('&', "dan")];
const IT: &[(char, &str)] = &[('&', "e"), ('@', "chiocciola")];
const KK: &[(char, &str)] = &[('&', "jane")];
const NB: &[(char, &str)] = &[
    ('&', "og"),
    ('@', "at"),
    ('æ', "ae"),
    ('ø', "oe"),
    ('å', "aa"),
    ('Æ', "Ae"),
    ('Ø', "Oe"),
    ('Å', "Aa"),
];
const NL: &[(char, &str)] = &[('&', "en"), ('@', "at")];
const PL: &[(char, &str)] = &[('&', "i"), ('@', "na")];
const PT: &[(char, &str)] = &[('&', "e"), ('@', "em")];
const RO: &[(char, &str)] = &[('&', "si")];
const SL: &[(char, &str)] = &[('&', "in")];
const SV: &[(char, &str)] = &[('&', "och"), ('@', "snabel a")];
const TR: &[(char, &str)] = &[('&', "ve"), ('@', "et")];
/// Bulgarian transliterates some letters unlike the generic tables (Щ is "Sht", Ъ is "A").
const BG: &[(char, &str)] = &[
    ('Ж', "Zh"),
    ('Й', "Y"),
    ('Ц', "Ts"),
    ('Щ', "Sht"),
    ('Ъ', "A"),
    ('Ь', "Y"),
    ('Ю', "Yu"),
    ('Я', "Ya"),
    ('ж', "zh"),
    ('й', "y"),
    ('ц', "ts"),
    ('щ', "sht"),
    ('ъ', "a"),
    ('ь', "y"),
    ('ю', "yu"),
    ('я', "ya"),
];

/// The substitutions of a language by its ISO 639 or 3166 code; English when unknown.
fn language(lang: &str) -> &'static [(char, &'static str)] {
    match lang.to_lowercase().as_str() {
        "bg" | "bgr" => BG,
        "cs" | "ces" => CS,
        "de" | "deu" => DE,
        "es" | "spa" => ES,
        "fi" | "fin" => FI,
        "fr" | "fra" => FR,
        "gr" | "el" | "ell" => GR,
        "hu" | "hun" => &[],
        "id" | "idn" | "ind" => ID,
        "it" | "ita" => IT,
        "kz" | "kk" | "kaz" => KK,
        "nb" | "nob" | "nn" | "nno" => NB,
        "nl" | "nld" => NL,
        "pl" | "pol" => PL,
        "pt" | "prt" | "pt-br" | "br" | "bra" | "por" => PT,
        "ro" | "rou" => RO,
        "sl" | "slv" => SL,
        "sv" | "swe" => SV,
        "tr" | "tur" => TR,
        _ => EN,
    }
}

fn substitute(s: &str, table: &[(char, &str)]) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match table.iter().find(|(from, _)| *from == c) {
            Some((_, to)) => out.push_str(to),
            None => out.push(c),
        }
    }
    out
}

pub(crate) fn make_slug(s: &str, lang: &str) -> String {
    let s = substitute(s.trim(), COMMON);
    let s = substitute(&s, language(lang));
    let ascii = deunicode::deunicode(&s).to_lowercase();
    // Anything but letters, digits, '-' and '_' becomes a dash; runs of dashes collapse.
    let mut out = String::with_capacity(ascii.len());
    for c in ascii.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '-'
        };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out.trim_matches(|c| c == '-' || c == '_').to_owned()
}

fn slug(v: &Value, args: &[Value]) -> Result<Value, String> {
    let lang = match &args[0] {
        Value::String(l) => l.as_str(),
        _ => "en",
    };
    Ok(Value::String(make_slug(&text(v)?, lang).into()))
}

pub(crate) fn register(env: &mut Environment) {
    env.method(
        "slug",
        "String Manipulation",
        "Converts a string into a URL slug: transliterated to lower-case ASCII, with `&` and \
         `@` spelled out in the language given (English by default) and other symbols \
         replaced by dashes.",
        vec![opt(
            "lang",
            Kind::Str,
            Value::String("en".to_owned().into()),
        )],
        vec![
            ex(
                "root.slug = this.title.slug()",
                &[(
                    r#"{"title":"Hello World! Welcome to Redpanda Connect"}"#,
                    r#"{"slug":"hello-world-welcome-to-redpanda-connect"}"#,
                )],
            ),
            ex(
                r#"root.slug = this.title.slug("fr")"#,
                &[(
                    r#"{"title":"Café & Restaurant"}"#,
                    r#"{"slug":"cafe-et-restaurant"}"#,
                )],
            ),
        ],
        MethodImpl::Ref(slug),
    );
}

#[cfg(test)]
mod tests {
    use super::make_slug;

    #[test]
    fn languages_and_symbols() {
        for (input, lang, expected) in [
            ("Hello & Goodbye", "en", "hello-and-goodbye"),
            ("Hello & Goodbye", "xx", "hello-and-goodbye"),
            ("Tom & Jerry", "DE", "tom-und-jerry"),
            ("Grüße aus Köln", "de", "gruesse-aus-koeln"),
            ("Grüße aus Köln", "en", "grusse-aus-koln"),
            ("mail@example", "sv", "mailsnabel-aexample"),
            ("Blåbær", "nb", "blaabaer"),
            ("Щастие", "bg", "shtastie"),
            ("snake_case  stays", "en", "snake_case-stays"),
            ("  --Trim me__ ", "en", "trim-me"),
            ("It's \"quoted\"", "en", "its-quoted"),
            ("a — b", "en", "a-b"),
        ] {
            assert_eq!(make_slug(input, lang), expected, "{input} ({lang})");
        }
    }
}
