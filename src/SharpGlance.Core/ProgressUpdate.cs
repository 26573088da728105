namespace SharpGlance;

/// <summary>
/// One progress report from long library work (training steps, images captioned, scenes rendered):
/// <paramref name="Done"/> of <paramref name="Total"/> units, plus a short detail such as "loss 1.23".
/// The CLI renders it as a bar or as log lines; the library never writes to the console itself. A
/// <paramref name="Milestone"/> (a validation result) is always shown as a line of its own, never
/// dropped by the log's rate limit or overwritten by the next update.
/// </summary>
public readonly record struct ProgressUpdate(long Done, long Total, string? Detail = null, bool Milestone = false);
