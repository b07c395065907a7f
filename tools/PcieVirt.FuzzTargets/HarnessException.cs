namespace PcieVirt.FuzzTargets;

/// <summary>
/// Thrown by a target when an invariant breaks: the one exception a target lets escape on purpose, so AFL++ records
/// the input as a crash and the replay mode names it.
/// </summary>
public sealed class HarnessException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A fuzz target: one input in, invariants checked, <see cref="HarnessException"/> on a violation.</summary>
public interface IFuzzTarget
{
    /// <summary>Runs one input.</summary>
    void Run(ReadOnlySpan<byte> input);
}
