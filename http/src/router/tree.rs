//! The route table as a tree of path segments, so finding a request's route costs one step
//! per segment of its path, whatever the number of routes.
//!
//! Each node is reached by a sequence of segment kinds from the root: a literal (`books`), a
//! parameter (`{id}`, any one non-empty segment) or, last, a wildcard (`{*rest}`, the rest of
//! the path). A route is stored at the node its pattern leads to. Lookup walks the path
//! depth first, trying at each node the literal child first, then the parameter child, then
//! the wildcard: exactly "the most specific route wins, segment by segment". It backtracks
//! when a more specific branch leads nowhere (`/books/new/x` may need `/books/{id}/x`), and
//! it can go on after a match, which is how a router finds the first matching route that
//! also serves the request's method.
//!
//! Two patterns of the same shape (the same literals, parameters in the same places,
//! whatever their names) end at the same node; inserting the second is refused there.

/// One node: the routes whose patterns end here, and the branches below.
#[derive(Clone, Debug, Default)]
pub(super) struct Node {
    /// Children reached by a literal segment, sorted by it (binary search).
    literals: Vec<(String, Node)>,
    /// The child reached by a parameter.
    param: Option<Box<Node>>,
    /// The route whose pattern ends with a wildcard here.
    wildcard: Option<usize>,
    /// The route whose pattern ends here.
    route: Option<usize>,
}

/// One segment of a pattern, as the tree sees it (names are the route's business).
#[derive(Clone, Copy, Debug)]
pub(super) enum Step<'a> {
    Literal(&'a str),
    Param,
    Wildcard,
}

impl Node {
    /// Stores `route` at the end of `steps`. `Err` holds the route already stored there (a
    /// pattern of the same shape).
    pub(super) fn insert(&mut self, steps: &[Step<'_>], route: usize) -> Result<(), usize> {
        let Some((step, rest)) = steps.split_first() else {
            return Self::claim(&mut self.route, route);
        };
        match step {
            Step::Literal(literal) => {
                let i = match self.literals.binary_search_by(|(l, _)| l.as_str().cmp(literal)) {
                    Ok(i) => i,
                    Err(i) => {
                        self.literals.insert(i, ((*literal).to_owned(), Node::default()));
                        i
                    }
                };
                self.literals[i].1.insert(rest, route)
            }
            Step::Param => self.param.get_or_insert_with(Box::default).insert(rest, route),
            Step::Wildcard => {
                debug_assert!(rest.is_empty(), "a wildcard is the last segment");
                Self::claim(&mut self.wildcard, route)
            }
        }
    }

    fn claim(slot: &mut Option<usize>, route: usize) -> Result<(), usize> {
        match *slot {
            Some(existing) => Err(existing),
            None => {
                *slot = Some(route);
                Ok(())
            }
        }
    }

    /// Calls `visit` with each route matching `path` (without its leading `/`), most specific
    /// first, and the values of its parameters in pattern order (a wildcard's value last),
    /// until `visit` returns `true`. Returns whether it did.
    pub(super) fn find<'p>(&self, path: &'p str, visit: &mut impl FnMut(usize, &[&'p str]) -> bool) -> bool {
        let mut values = Vec::new();
        self.walk(Some(path), &mut values, visit)
    }

    /// The child reached by `part`: a scan of a few literals (a length compare rejects most),
    /// a binary search of many.
    fn literal(&self, part: &str) -> Option<&Node> {
        if self.literals.len() <= 8 {
            return self.literals.iter().find(|(l, _)| l == part).map(|(_, child)| child);
        }
        let i = self.literals.binary_search_by(|(l, _)| l.as_str().cmp(part)).ok()?;
        Some(&self.literals[i].1)
    }

    /// `rest` is what is left of the path: `None` once every segment is consumed (`Some("")`
    /// is one empty segment, as in `/` or `/books/`).
    fn walk<'p>(
        &self,
        rest: Option<&'p str>,
        values: &mut Vec<&'p str>,
        visit: &mut impl FnMut(usize, &[&'p str]) -> bool,
    ) -> bool {
        let Some(current) = rest else {
            return self.route.is_some_and(|route| visit(route, values));
        };
        // A byte search: `/` is ASCII, and `str::split_once` with a `char` pattern is slower.
        let (part, after) = match current.bytes().position(|b| b == b'/') {
            Some(i) => (&current[..i], Some(&current[i + 1..])),
            None => (current, None),
        };
        if let Some(child) = self.literal(part) {
            if child.walk(after, values, visit) {
                return true;
            }
        }
        if let Some(param) = &self.param {
            if !part.is_empty() {
                values.push(part);
                let done = param.walk(after, values, visit);
                values.pop();
                if done {
                    return true;
                }
            }
        }
        if let Some(route) = self.wildcard {
            if !current.is_empty() {
                values.push(current);
                let done = visit(route, values);
                values.pop();
                return done;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_matches<'p>(tree: &Node, path: &'p str) -> Vec<(usize, Vec<&'p str>)> {
        let mut found = Vec::new();
        tree.find(path, &mut |route, values| {
            found.push((route, values.to_vec()));
            false
        });
        found
    }

    #[test]
    fn finds_every_match_most_specific_first_and_backtracks() {
        let mut tree = Node::default();
        let routes: [&[Step<'_>]; 5] = [
            &[Step::Literal("books"), Step::Param, Step::Literal("x")],
            &[Step::Literal("books"), Step::Literal("new"), Step::Literal("y")],
            &[Step::Literal("books"), Step::Wildcard],
            &[Step::Literal("books"), Step::Param],
            &[Step::Literal("books"), Step::Literal("new")],
        ];
        for (i, steps) in routes.iter().enumerate() {
            tree.insert(steps, i).unwrap();
        }
        assert_eq!(all_matches(&tree, "books/new"), [(4, vec![]), (3, vec!["new"]), (2, vec!["new"])]);
        assert_eq!(
            all_matches(&tree, "books/new/x"),
            [(0, vec!["new"]), (2, vec!["new/x"])],
            "the literal branch has no `x`: back to the parameter"
        );
        assert_eq!(all_matches(&tree, "books/"), [], "neither a parameter nor a wildcard matches empty");
        assert_eq!(all_matches(&tree, "book"), []);
    }

    #[test]
    fn a_pattern_of_the_same_shape_is_refused_with_the_route_it_meets() {
        let mut tree = Node::default();
        tree.insert(&[Step::Literal("a"), Step::Param], 0).unwrap();
        assert_eq!(tree.insert(&[Step::Literal("a"), Step::Param], 1), Err(0));
        tree.insert(&[Step::Literal("a"), Step::Wildcard], 2).unwrap();
        assert_eq!(tree.insert(&[Step::Literal("a"), Step::Wildcard], 3), Err(2));
    }
}
