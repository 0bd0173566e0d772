//! JSON values to FEEL values and back.
//!
//! FEEL numbers are 34-digit decimals; JSON numbers are read through their decimal text, so
//! `0.1 + 0.2` stays exactly `0.3`. On the way out a number becomes an integer when it is one
//! and fits in 64 bits, otherwise the nearest double (what any JSON reader does anyway).
//! Temporal values leave as their ISO-8601 text, as Camunda's runtime serializes them.

use dsntk_feel::context::FeelContext;
use dsntk_feel::values::Value as Feel;
use dsntk_feel::{FeelNumber, Name};
use serde_json::{Map, Number, Value as Json};

/// Converts one JSON value to FEEL.
pub fn to_feel(value: &Json) -> Feel {
    match value {
        Json::Null => Feel::Null(None),
        Json::Bool(b) => Feel::Boolean(*b),
        Json::Number(n) => match n.to_string().parse::<FeelNumber>() {
            Ok(number) => Feel::Number(number),
            Err(_) => Feel::Null(Some(format!("number {n} is out of FEEL's range"))),
        },
        Json::String(s) => Feel::String(s.clone()),
        Json::Array(items) => Feel::List(items.iter().map(to_feel).collect()),
        Json::Object(map) => Feel::Context(context_of(map)),
    }
}

/// A FEEL context holding every member of a JSON object.
pub fn context_of(map: &Map<String, Json>) -> FeelContext {
    let mut ctx = FeelContext::default();
    for (key, value) in map {
        ctx.set_entry(&Name::from(key.as_str()), to_feel(value));
    }
    ctx
}

/// Converts a FEEL value to JSON. Values JSON cannot carry (functions, ranges, types) become
/// null, as they do in Camunda when a result expression returns them.
pub fn to_json(value: &Feel) -> Json {
    match value {
        Feel::Null(_) => Json::Null,
        Feel::Boolean(b) => Json::Bool(*b),
        Feel::Number(n) => number_to_json(n),
        Feel::String(s) => Json::String(s.clone()),
        Feel::List(items) => Json::Array(items.iter().map(to_json).collect()),
        Feel::Context(ctx) => Json::Object(ctx.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect()),
        Feel::Date(d) => Json::String(d.to_string()),
        Feel::DateTime(d) => Json::String(d.to_string()),
        Feel::Time(t) => Json::String(t.to_string()),
        Feel::DaysAndTimeDuration(d) => Json::String(d.to_string()),
        Feel::YearsAndMonthsDuration(d) => Json::String(d.to_string()),
        _ => Json::Null,
    }
}

fn number_to_json(n: &FeelNumber) -> Json {
    let text = n.to_string();
    // A whole number keeps its decimal scale in FEEL (`decimal(1.005, 2)` is `1.00`); JSON
    // readers see the same value, written as an integer.
    let whole = match text.split_once('.') {
        Some((int, frac)) if frac.bytes().all(|b| b == b'0') => int,
        _ => text.as_str(),
    };
    if let Ok(i) = whole.parse::<i64>() {
        return Json::Number(i.into());
    }
    text.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Json::Number)
        .unwrap_or(Json::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trips_through_feel() {
        let v = json!({"a": [1, 2.5, "x", null, true], "b": {"c": -7}, "big": 12345678901234_i64});
        assert_eq!(to_json(&to_feel(&v)), v);
    }
}
