//! Path routing with gorilla/mux semantics: exact paths, a trailing `/`
//! matching everything under it, and `{name}` / `{name:regex}` parameters.

use std::sync::{Arc, RwLock};

use regex::Regex;

use super::Handler;

/// A compiled route path.
#[derive(Clone, Debug)]
pub(crate) enum PathPattern {
    Exact(String),
    Prefix(String),
    Params { regex: Regex, names: Vec<String> },
}

impl PathPattern {
    /// Compiles `path`; an invalid `{name:regex}` is an error.
    pub(crate) fn parse(path: &str) -> Result<PathPattern, String> {
        if !path.contains('{') {
            return Ok(if path.ends_with('/') {
                PathPattern::Prefix(path.to_owned())
            } else {
                PathPattern::Exact(path.to_owned())
            });
        }
        let mut pattern = String::from("^");
        let mut names = Vec::new();
        let mut rest = path;
        while let Some(open) = rest.find('{') {
            pattern.push_str(&regex::escape(&rest[..open]));
            let after = &rest[open + 1..];
            let close = find_closing_brace(after)
                .ok_or_else(|| format!("unbalanced braces in path {path:?}"))?;
            let inner = &after[..close];
            let (name, expr) = match inner.split_once(':') {
                Some((name, expr)) => (name, expr),
                None => (inner, "[^/]+"),
            };
            names.push(name.to_owned());
            pattern.push('(');
            pattern.push_str(expr);
            pattern.push(')');
            rest = &after[close + 1..];
        }
        pattern.push_str(&regex::escape(rest));
        if !path.ends_with('/') {
            pattern.push('$');
        }
        let regex = Regex::new(&pattern).map_err(|e| format!("invalid path {path:?}: {e}"))?;
        Ok(PathPattern::Params { regex, names })
    }

    /// Matches a request path; returns the path parameters on success.
    pub(crate) fn matches(&self, path: &str) -> Option<Vec<(String, String)>> {
        match self {
            PathPattern::Exact(p) => (p == path).then(Vec::new),
            PathPattern::Prefix(p) => path.starts_with(p.as_str()).then(Vec::new),
            PathPattern::Params { regex, names } => {
                let caps = regex.captures(path)?;
                Some(
                    names
                        .iter()
                        .enumerate()
                        .map(|(i, name)| {
                            let value = caps.get(i + 1).map_or("", |m| m.as_str());
                            (name.clone(), value.to_owned())
                        })
                        .collect(),
                )
            }
        }
    }
}

fn find_closing_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Path parameters in the order the path declares them.
pub(crate) type PathParams = Vec<(String, String)>;

struct Route {
    // The stream that registered it; `None` for the server's own endpoints.
    owner: Option<Arc<str>>,
    path: String,
    pattern: PathPattern,
    description: String,
    handler: Arc<dyn Handler>,
}

/// A set of routes; the most recent registration of a path wins.
#[derive(Default)]
pub(crate) struct Router {
    routes: RwLock<Vec<Route>>,
    // Tags every route registered here (a staging router of one stream).
    owner: Option<Arc<str>>,
}

impl Router {
    /// A router whose routes all belong to the stream `owner`.
    pub(crate) fn owned(owner: &str) -> Self {
        Self {
            routes: RwLock::default(),
            owner: Some(Arc::from(owner)),
        }
    }

    /// Adds (or replaces) the route for `path`.
    pub(crate) fn register(
        &self,
        path: &str,
        description: &str,
        handler: Arc<dyn Handler>,
    ) -> Result<(), String> {
        let pattern = PathPattern::parse(path)?;
        let mut routes = self.routes.write().expect("router lock poisoned");
        routes.retain(|r| r.path != path);
        routes.push(Route {
            owner: self.owner.clone(),
            path: path.to_owned(),
            pattern,
            description: description.to_owned(),
            handler,
        });
        Ok(())
    }

    /// The handler for `path` and its parameters.
    pub(crate) fn find(&self, path: &str) -> Option<(Arc<dyn Handler>, PathParams)> {
        let routes = self.routes.read().expect("router lock poisoned");
        // Exact routes take precedence over prefixes and patterns; among the
        // rest the latest registration wins.
        if let Some(route) = routes
            .iter()
            .rev()
            .find(|r| matches!(&r.pattern, PathPattern::Exact(p) if p == path))
        {
            return Some((Arc::clone(&route.handler), Vec::new()));
        }
        routes.iter().rev().find_map(|r| {
            r.pattern
                .matches(path)
                .map(|params| (Arc::clone(&r.handler), params))
        })
    }

    /// Replaces the routes of `staged`'s owner with `staged`'s, in one
    /// step, and hands back the handlers it removed.
    pub(crate) fn replace_routes(&self, staged: &Router) -> Vec<Arc<dyn Handler>> {
        let staged_routes = staged.routes.read().expect("router lock poisoned");
        let mut routes = self.routes.write().expect("router lock poisoned");
        let removed = take_owned(&mut routes, staged.owner.as_deref());
        for route in staged_routes.iter() {
            routes.retain(|r| r.path != route.path);
            routes.push(Route {
                owner: route.owner.clone(),
                path: route.path.clone(),
                pattern: route.pattern.clone(),
                description: route.description.clone(),
                handler: Arc::clone(&route.handler),
            });
        }
        removed
    }

    /// Removes the routes of the stream `owner` and hands back their
    /// handlers.
    pub(crate) fn remove_owned(&self, owner: &str) -> Vec<Arc<dyn Handler>> {
        let mut routes = self.routes.write().expect("router lock poisoned");
        take_owned(&mut routes, Some(owner))
    }

    /// Every registered path with its description.
    pub(crate) fn endpoints(&self) -> Vec<(String, String)> {
        let routes = self.routes.read().expect("router lock poisoned");
        routes
            .iter()
            .map(|r| (r.path.clone(), r.description.clone()))
            .collect()
    }
}

fn take_owned(routes: &mut Vec<Route>, owner: Option<&str>) -> Vec<Arc<dyn Handler>> {
    let mut removed = Vec::new();
    routes.retain(|r| {
        let theirs = owner.is_some() && r.owner.as_deref() == owner;
        if theirs {
            removed.push(Arc::clone(&r.handler));
        }
        !theirs
    });
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(path: &str, request: &str) -> Option<Vec<(String, String)>> {
        PathPattern::parse(path).unwrap().matches(request)
    }

    #[test]
    fn gorilla_mux_semantics() {
        assert_eq!(check("/post", "/post"), Some(vec![]));
        assert_eq!(check("/post", "/post/x"), None);
        assert_eq!(check("/files/", "/files/a/b"), Some(vec![]));
        assert_eq!(
            check("/users/{id}", "/users/42"),
            Some(vec![("id".to_owned(), "42".to_owned())])
        );
        assert_eq!(check("/users/{id}", "/users/42/x"), None);
        assert_eq!(check("/n/{id:[0-9]+}", "/n/ab"), None);
        assert_eq!(
            check("/n/{id:[0-9]{2}}", "/n/12"),
            Some(vec![("id".to_owned(), "12".to_owned())])
        );
    }
}
