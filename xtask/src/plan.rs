//! The planner: which tasks run, in which order (dependencies first, each once).

use crate::config::Config;

/// Returns the tasks to run for `target`, dependencies first, each task once, in a
/// stable order: a task's dependencies are visited in the order they are written.
/// The config has been checked for unknown names and cycles already.
pub fn order<'c>(config: &'c Config, target: &str) -> Vec<&'c str> {
    let mut done: Vec<&'c str> = Vec::new();
    visit(config, target, &mut done);
    done
}

fn visit<'c>(config: &'c Config, name: &str, done: &mut Vec<&'c str>) {
    let Some(task) = config.task(name) else { return };
    if done.contains(&task.name.as_str()) {
        return;
    }
    for dep in &task.deps {
        visit(config, dep, done);
    }
    if !done.contains(&task.name.as_str()) {
        done.push(task.name.as_str());
    }
}

/// Finds a dependency cycle, returned as the loop `[a, b, a]`.
pub fn find_cycle(config: &Config) -> Result<(), Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    let index = |name: &str| config.tasks.iter().position(|t| t.name == name);
    let mut marks = vec![Mark::New; config.tasks.len()];
    let mut stack: Vec<usize> = Vec::new();

    // Iterative depth-first walk so a deep chain cannot overflow the stack.
    for start in 0..config.tasks.len() {
        if marks[start] != Mark::New {
            continue;
        }
        let mut work: Vec<(usize, usize)> = vec![(start, 0)];
        marks[start] = Mark::OnStack;
        stack.push(start);
        while let Some(&mut (node, ref mut next)) = work.last_mut() {
            let deps = &config.tasks[node].deps;
            if *next < deps.len() {
                let dep = deps[*next].as_str();
                *next += 1;
                let Some(d) = index(dep) else { continue };
                match marks[d] {
                    Mark::OnStack => {
                        let from = stack.iter().position(|&s| s == d).unwrap_or(0);
                        let mut cycle: Vec<String> =
                            stack[from..].iter().map(|&s| config.tasks[s].name.clone()).collect();
                        cycle.push(config.tasks[d].name.clone());
                        return Err(cycle);
                    }
                    Mark::New => {
                        marks[d] = Mark::OnStack;
                        stack.push(d);
                        work.push((d, 0));
                    }
                    Mark::Done => {}
                }
            } else {
                marks[node] = Mark::Done;
                stack.pop();
                work.pop();
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::parse;
    use std::path::Path;

    fn config(text: &str) -> crate::config::Config {
        parse(Path::new("/r/tasks.toml"), text).unwrap()
    }

    #[test]
    fn dependencies_first_each_once() {
        let c = config(
            "[tasks.deploy]\nrun=[\"true\"]\ndeps=[\"backup\",\"check\"]\n\
             [tasks.backup]\nrun=[\"true\"]\ndeps=[\"check\"]\n\
             [tasks.check]\nrun=[\"true\"]\n",
        );
        assert_eq!(super::order(&c, "deploy"), ["check", "backup", "deploy"]);
        assert_eq!(super::order(&c, "check"), ["check"]);
    }

    #[test]
    fn order_is_stable_by_written_dependency_order() {
        let c = config(
            "[tasks.all]\nrun=[\"true\"]\ndeps=[\"b\",\"a\"]\n[tasks.a]\nrun=[\"true\"]\n[tasks.b]\nrun=[\"true\"]\n",
        );
        assert_eq!(super::order(&c, "all"), ["b", "a", "all"]);
    }

    #[test]
    fn self_cycle_and_long_cycle() {
        let e = parse(Path::new("/r/tasks.toml"), "[tasks.a]\nrun=[\"true\"]\ndeps=[\"a\"]\n").unwrap_err();
        assert!(e.message.ends_with("a -> a"), "{}", e.message);
        let e = parse(
            Path::new("/r/tasks.toml"),
            "[tasks.x]\nrun=[\"true\"]\n[tasks.a]\nrun=[\"true\"]\ndeps=[\"b\"]\n[tasks.b]\nrun=[\"true\"]\ndeps=[\"c\"]\n[tasks.c]\nrun=[\"true\"]\ndeps=[\"a\"]\n",
        )
        .unwrap_err();
        assert_eq!(e.message, "dependency cycle: a -> b -> c -> a");
    }
}
