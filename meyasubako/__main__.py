import sys

from meyasubako.cli import main

sys.exit(main())
