//! Load harness for the reference server (work in progress).

fn main() {
    println!("load-harness: not built yet");
}
