"""The processor: detects personal data in pair records and builds the data-flow map."""
