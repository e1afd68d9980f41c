"""What tests share: the real parts they start and the checks they make behind the gateway's
back. Test modules and conftest files import from here, never from each other."""
