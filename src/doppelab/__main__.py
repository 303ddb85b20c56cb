import sys

from doppelab.cli.main import main

sys.exit(main())
