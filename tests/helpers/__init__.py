"""What tests share: the real parts they start and the checks they make behind the gateway's
back. Test modules and conftest files import from here (or from their scenario's own helper
module, such as tests/faults/stack.py), never from each other: tests/unit/test_test_tree.py."""
