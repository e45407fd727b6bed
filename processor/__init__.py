"""The processor: detects personal data in pair records and builds the data-flow map."""

# ``import interceptor`` installs the compiled build's finder (interceptor/compiled.py), which must be
# in place before the processor's compiled modules (listed in its MODULES) are imported.
import interceptor  # noqa: F401
