//! Writing to stdout where a closed pipe is not an error: `xtask --list | head -1`
//! must not panic, and a deploy whose stdout reader went away must go on to the
//! end (the run's outcome is in its exit status, its stderr and its audit log).

/// `println!` that ignores a closed or failing stdout.
macro_rules! outln {
    () => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock());
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `print!` that ignores a closed or failing stdout.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}
