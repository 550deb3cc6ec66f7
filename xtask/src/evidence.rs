// TEMPORARY local stand-in (not committed) until the evidence branch lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict { NotApplied, Applied, Partial, Unknown }
pub struct Evidence { pub verdict: Verdict, pub present: Vec<String>, pub missing: Vec<String> }
pub fn assess(_t: &crate::db::Target, _sql: &str, _s: &str) -> Result<Evidence, crate::runner::Failure> { Ok(Evidence{verdict: Verdict::NotApplied, present: vec![], missing: vec![]}) }
pub fn summary(e: &Evidence) -> String { format!("{:?}", e.verdict) }
pub fn names_object(e: &String, o: &str) -> bool { e == o }
pub fn verdict_of(e: &Evidence) -> Verdict { e.verdict }
pub fn print_details(_e: &Evidence) {}
