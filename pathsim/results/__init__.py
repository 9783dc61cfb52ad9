"""What is read from a simulated step's timeline: metrics, goodput, the text and JSON report, the Chrome trace,
checked atomic writes of outputs, and the report notes of an imported XLA program."""
