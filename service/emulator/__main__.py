"""`python -m service.emulator`: the emulator on its own (see service.emulator.standalone)."""

from service.emulator.standalone import main

raise SystemExit(main())
