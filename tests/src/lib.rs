//! End-to-end tests live in `tests/`. This library holds what they, the
//! beacon benchmark, the demo's simulator and `cargo xtask test` share to end
//! every process they start: [`processes`] finds processes by a marker in
//! their environment and their descendants, and kills them;
//! [`chromedriver::ChromeDriver`] is chromedriver with everything it starts,
//! ended on drop. Standard library only, so that xtask stays light.

pub mod chromedriver;
pub mod processes;
