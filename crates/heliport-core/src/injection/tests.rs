use super::*;

#[test]
fn model_is_readable() {
    assert!(model_ready());
}
