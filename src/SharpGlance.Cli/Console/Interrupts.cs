using System.Runtime.InteropServices;

namespace SharpGlance.Cli;

/// <summary>
/// Ctrl-C (SIGINT) and SIGTERM for a command that can stop cleanly: the first signal cancels
/// <see cref="Token"/> instead of ending the process, the command winds down (training writes a checkpoint,
/// synth removes its staging folder) and exits 130 or 143 with one line. A second signal ends the process
/// at once. Commands that do not listen keep the default: the signal ends them.
/// </summary>
public sealed class Interrupts : IDisposable
{
    private readonly CancellationTokenSource _cancel = new();
    private readonly PosixSignalRegistration[] _registrations;
    private int _signal;

    private Interrupts() =>
        _registrations = [PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal), PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal)];

    public static Interrupts Listen() => new();

    public CancellationToken Token => _cancel.Token;
    public bool Requested => _cancel.IsCancellationRequested;

    private void OnSignal(PosixSignalContext context)
    {
        if (Interlocked.CompareExchange(ref _signal, (int)context.Signal, 0) != 0) return;   // the second one: default action
        context.Cancel = true;
        _cancel.Cancel();
    }

    /// <summary>Writes "glance: interrupted by SIGINT: <paramref name="what"/>" and returns the shell's exit code for the signal.</summary>
    public int Report(TextWriter error, string what)
    {
        var signal = (PosixSignal)_signal;
        error.WriteLine($"glance: interrupted by {(signal == PosixSignal.SIGTERM ? "SIGTERM" : "SIGINT")}: {what}");
        return signal == PosixSignal.SIGTERM ? 143 : 130;
    }

    public void Dispose()
    {
        foreach (var r in _registrations) r.Dispose();
        _cancel.Dispose();
    }
}
