"""`python -m engine.portfolio_risk stress --closes FILE.csv`: see cli.py."""
import sys

from engine.portfolio_risk.cli import main

sys.exit(main())
