//! Keyword arguments as Python binds them to a handler's constructor: unknown
//! and missing names are Python's TypeError, values are converted on access.
//!
//! Owns: binding and typed access to one handler's keyword arguments. Does not
//! own: which names a class takes (`args.rs`).

use serde_json::{Map, Value};

use super::convert::{py_repr, py_repr_str, saturated_int, truthy};
use super::ctx::Ctx;
use super::invalid::Invalid;

/// Keyword arguments as Python binds them to a constructor.
pub(super) struct Kwargs<'a> {
    pub(super) class: &'static str,
    pub(super) map: Map<String, Value>,
    pub(super) ctx: &'a Ctx<'a>,
}

impl Kwargs<'_> {
    /// Reject names the constructor does not take, as Python's TypeError does.
    pub(super) fn check(&self, allowed: &[&str], required: &[&str]) -> Result<(), Invalid> {
        if let Some(k) = self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(format!(
                "{}.__init__() got an unexpected keyword argument {}",
                self.class,
                py_repr_str(k)
            )
            .into());
        }
        let missing: Vec<&&str> = required
            .iter()
            .filter(|r| !self.map.contains_key(**r))
            .collect();
        match missing.as_slice() {
            [] => Ok(()),
            [one] => Err(format!(
                "{}.__init__() missing 1 required positional argument: '{one}'",
                self.class
            )
            .into()),
            many => Err(format!(
                "{}.__init__() missing {} required positional arguments: {}",
                self.class,
                many.len(),
                many.iter()
                    .map(|m| format!("'{m}'"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            )
            .into()),
        }
    }

    pub(super) fn get(&self, key: &str) -> Result<Option<Value>, Invalid> {
        Ok(self.ctx.res.get(&self.map, key)?.filter(|v| !v.is_null()))
    }

    pub(super) fn int(&self, key: &str, default: i64) -> Result<i64, Invalid> {
        match self.get(key)? {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(i64::from(b)),
            Some(v) => saturated_int(&v)
                .ok_or_else(|| format!("{key} must be an integer, not {}", py_repr(&v)).into()),
        }
    }

    pub(super) fn flag(&self, key: &str, default: bool) -> Result<bool, Invalid> {
        Ok(self.get(key)?.map_or(default, |v| truthy(&v)))
    }

    pub(super) fn string(&self, key: &str) -> Result<Option<String>, Invalid> {
        match self.get(key)? {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(format!("{key} must be a string, not {}", py_repr(&v)).into()),
        }
    }
}
