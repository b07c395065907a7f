using System.Text;
using System.Text.Json;

namespace PcieVirt.Hypervisor.Fuzz;

/// <summary>What one fuzz step does to its target function.</summary>
public enum FuzzStepKind
{
    /// <summary>A config write of random width, offset and value (BAR and VF BAR registers excepted).</summary>
    ConfigRandom,
    /// <summary>A config write aimed at a real register field (Command, BAR sizing, MSI/MSI-X control, PCIe Device Control, SR-IOV, AER…).</summary>
    ConfigStructured,
    /// <summary>An MMIO access to the NVMe register block (CC, AQA/ASQ/ACQ, read-only registers, random offsets and widths).</summary>
    MmioRegister,
    /// <summary>A doorbell write with a bogus queue id or value.</summary>
    Doorbell,
    /// <summary>A write to the MSI-X table or PBA (addresses inside and outside the function's IOMMU domain).</summary>
    MsixTable,
    /// <summary>A malformed submission queue entry (random or grammar-aware fields) on the fuzzer's own I/O queue.</summary>
    MalformedSqe,
    /// <summary>A Read or Write whose PRP list holds misaligned, chained or out-of-domain entries.</summary>
    PrpList,
    /// <summary>Function Level Reset through PCIe Device Control.</summary>
    Flr,
    /// <summary>VF Enable / NumVFs changes, through the host OS or raw config writes (PF only).</summary>
    VfToggle,
    /// <summary>An admin command with bogus fields through the function's admin queue (a VF also tries the PF-only commands).</summary>
    AdminCommand,
    /// <summary>Valid I/O from the reference driver: writes that become acknowledged data, and verified reads.</summary>
    ValidIo,
}

/// <summary>The invariants checked after every step.</summary>
public enum FuzzInvariant
{
    /// <summary>A read-only config bit of a function changed.</summary>
    ReadOnlyRegister,
    /// <summary>Host RAM outside every IOMMU domain and driver area (the sentinel pages) changed.</summary>
    DmaIsolation,
    /// <summary>A step aimed at one VF changed another function's config space or controller state.</summary>
    FunctionIsolation,
    /// <summary>A read of acknowledged data returned other bytes.</summary>
    AcknowledgedData,
    /// <summary>A function issued DMA or an interrupt after a reset (FLR, VF disable) and before its driver enabled it again.</summary>
    DmaAfterReset,
    /// <summary>An exception escaped the step.</summary>
    Exception,
    /// <summary>A function could not be brought back up by its driver even after a Function Level Reset.</summary>
    Recovery,
}

/// <summary>One step: its index in the run, what it did, and which function it aimed at (0 = the PF, n = VF n).</summary>
public readonly record struct FuzzStep(long Index, FuzzStepKind Kind, int Lane);

/// <summary>A broken invariant: where (step index, kind, function) and what.</summary>
public sealed record FuzzViolation(long Step, FuzzStepKind Kind, string Function, FuzzInvariant Invariant, string Message)
{
    public override string ToString() => $"step {Step} ({Kind} on {Function}): {Invariant}: {Message}";
}

/// <summary>Options of a fuzz run.</summary>
public sealed record FuzzOptions
{
    /// <summary>Steps to run.</summary>
    public long Iterations { get; init; } = 10_000;
    /// <summary>Seed of the SplitMix64 generator: the same seed gives the same steps.</summary>
    public ulong Seed { get; init; } = 1;
    /// <summary>VFs enabled and fuzzed beside the PF.</summary>
    public int Vfs { get; init; } = 4;
    /// <summary>Violations kept in the result (all are counted).</summary>
    public int MaxViolationsKept { get; init; } = 20;
    /// <summary>
    /// Timed completions: the controllers get a media model on the host's virtual clock, so the fuzzer's commands
    /// are still in flight when later steps (FLR, VF disable) hit; time passes by a random amount after each step.
    /// </summary>
    public bool Timed { get; init; }
    /// <summary>Stop at the first violation.</summary>
    public bool StopOnViolation { get; init; }
    /// <summary>
    /// Called inside each step after its action and before the invariants are checked (tests plant faults
    /// here); an exception it throws counts as an escaped exception of that step.
    /// </summary>
    public Action<DeviceFuzzer, FuzzStep>? StepHook { get; init; }
}

/// <summary>The summary of a run.</summary>
public sealed class FuzzResult
{
    internal FuzzResult(ulong seed, int vfs, bool timed) { Seed = seed; Vfs = vfs; Timed = timed; }

    /// <summary>The seed the steps were drawn from.</summary>
    public ulong Seed { get; }
    /// <summary>Whether the run used timed completions (<see cref="FuzzOptions.Timed"/>).</summary>
    public bool Timed { get; }
    /// <summary>VFs fuzzed beside the PF.</summary>
    public int Vfs { get; }
    /// <summary>Steps run.</summary>
    public long Iterations { get; internal set; }
    /// <summary>Steps per kind (indexed by <see cref="FuzzStepKind"/>).</summary>
    public long[] StepsByKind { get; } = new long[Enum.GetValues<FuzzStepKind>().Length];
    /// <summary>Violations found (all of them, of which the first <see cref="FuzzOptions.MaxViolationsKept"/> are listed).</summary>
    public long ViolationCount { get; internal set; }
    /// <summary>The first violations, in step order.</summary>
    public List<FuzzViolation> Violations { get; } = [];
    /// <summary>IOMMU faults recorded (refused DMA and interrupt requests: expected, not violations).</summary>
    public long IommuFaults { get; internal set; }
    /// <summary>Driver bring-ups after a step left a function unusable (reset, disabled, fatal status).</summary>
    public long Recoveries { get; internal set; }
    /// <summary>Acknowledged blocks read back and compared.</summary>
    public long BlocksVerified { get; internal set; }
    /// <summary>Blocks written and acknowledged.</summary>
    public long BlocksWritten { get; internal set; }
    /// <summary>Commands the fuzzer submitted on its own queues (malformed entries and PRP lists).</summary>
    public long FuzzCommands { get; internal set; }
    /// <summary>Completions with an error status among them.</summary>
    public long FuzzCommandErrors { get; internal set; }
    /// <summary>Completions of the fuzzer's commands by status (status code type &lt;&lt; 8 | status code).</summary>
    public SortedDictionary<int, long> Statuses { get; } = [];
    /// <summary>FLRs and VF disables that met commands still in flight (timed mode).</summary>
    public long ResetsWithCommandsInFlight { get; internal set; }
    /// <summary>A running hash of every step's kind, target and outcome: equal for equal runs.</summary>
    public ulong Fingerprint { get; internal set; }

    /// <summary>The command line that reproduces the first violation exactly, or null.</summary>
    public string? ReplayHint => Violations.Count == 0 ? null
        : $"pcievirt fuzz --seed {Seed} --iterations {Violations[0].Step + 1}" + (Vfs != 4 ? $" --vfs {Vfs}" : "") + (Timed ? " --timed" : "");

    /// <summary>Human-readable summary.</summary>
    public string ToText()
    {
        var sb = new StringBuilder();
        sb.AppendLine($"fuzz: seed {Seed}, {Iterations} iterations, PF + {Vfs} VFs behind an IOMMU{(Timed ? ", timed completions" : "")}");
        sb.AppendLine("steps by kind:");
        foreach (var k in Enum.GetValues<FuzzStepKind>()) sb.AppendLine($"  {k,-17} {StepsByKind[(int)k],10}");
        sb.AppendLine($"fuzz commands: {FuzzCommands} ({FuzzCommandErrors} completed with an error status)");
        sb.AppendLine("  by status: " + string.Join(", ", Statuses.Select(kv => $"{kv.Key >> 8:x}/{kv.Key & 0xFF:x2}h {kv.Value}")));
        sb.AppendLine($"acknowledged blocks: {BlocksWritten} written, {BlocksVerified} verified");
        sb.AppendLine($"IOMMU faults (refused requests): {IommuFaults}; driver recoveries: {Recoveries}; resets meeting commands in flight: {ResetsWithCommandsInFlight}");
        sb.AppendLine($"fingerprint: {Fingerprint:x16}");
        sb.AppendLine($"invariant violations: {ViolationCount}");
        foreach (var v in Violations) sb.AppendLine($"  {v}");
        if (ReplayHint is { } hint) sb.AppendLine($"replay: {hint}");
        return sb.ToString();
    }

    /// <summary>The summary as JSON.</summary>
    public string ToJson(double? wallSeconds = null)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteNumber("seed", Seed);
            w.WriteNumber("iterations", Iterations);
            w.WriteNumber("vfs", Vfs);
            w.WriteBoolean("timed", Timed);
            w.WriteStartObject("steps_by_kind");
            foreach (var k in Enum.GetValues<FuzzStepKind>()) w.WriteNumber(k.ToString(), StepsByKind[(int)k]);
            w.WriteEndObject();
            w.WriteNumber("fuzz_commands", FuzzCommands);
            w.WriteNumber("fuzz_command_errors", FuzzCommandErrors);
            w.WriteNumber("blocks_written", BlocksWritten);
            w.WriteNumber("blocks_verified", BlocksVerified);
            w.WriteNumber("iommu_faults", IommuFaults);
            w.WriteNumber("recoveries", Recoveries);
            w.WriteNumber("resets_with_commands_in_flight", ResetsWithCommandsInFlight);
            w.WriteString("fingerprint", Fingerprint.ToString("x16"));
            w.WriteNumber("violations", ViolationCount);
            w.WriteStartArray("violation_list");
            foreach (var v in Violations)
            {
                w.WriteStartObject();
                w.WriteNumber("step", v.Step);
                w.WriteString("kind", v.Kind.ToString());
                w.WriteString("function", v.Function);
                w.WriteString("invariant", v.Invariant.ToString());
                w.WriteString("message", v.Message);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            if (ReplayHint is { } hint) w.WriteString("replay", hint);
            if (wallSeconds is { } s) w.WriteNumber("wall_seconds", Math.Round(s, 3));
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }
}

/// <summary>SplitMix64 (Steele, Lea, Flood 2014): a small, fast, seedable generator; the fuzzer's only source of randomness.</summary>
public sealed class SplitMix64(ulong seed)
{
    ulong _state = seed;

    /// <summary>The next 64 random bits.</summary>
    public ulong Next()
    {
        ulong z = _state += 0x9E37_79B9_7F4A_7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, <paramref name="n"/>) (n &gt; 0; the modulo bias is irrelevant here).</summary>
    public int Below(int n) => (int)(Next() % (ulong)n);
    /// <summary>32 random bits.</summary>
    public uint U32() => (uint)(Next() >> 32);
    /// <summary>True with probability 1/<paramref name="n"/>.</summary>
    public bool OneIn(int n) => Below(n) == 0;
    /// <summary>One of <paramref name="items"/>, uniformly.</summary>
    public T Pick<T>(ReadOnlySpan<T> items) => items[Below(items.Length)];
}
