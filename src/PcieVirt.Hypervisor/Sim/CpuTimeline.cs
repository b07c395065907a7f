using PcieVirt.Hypervisor.Timing;

namespace PcieVirt.Hypervisor.Sim;

/// <summary>Why a vCPU left guest mode.</summary>
public enum ExitReason
{
    /// <summary>An access to trapped MMIO (EPT violation): decoded and emulated.</summary>
    Mmio,
    /// <summary>A paravirtual notify (fast MMIO / ioeventfd): no decode.</summary>
    Kick,
    /// <summary>HLT: the guest idles until an interrupt.</summary>
    Halt,
    /// <summary>An EOI write without APIC virtualization.</summary>
    Eoi,
    /// <summary>An external interrupt arrived for the host (assigned device without posted interrupts).</summary>
    ExternalInterrupt,
}

/// <summary>
/// A CPU running software in virtual time (a vCPU running the guest, a host CPU running a driver or the
/// VMM): while it runs, <see cref="Cursor"/> is its own notion of now, moved forward by every cost it
/// spends; effects on other parts of the system are scheduled at the cursor. Costs are charged to the
/// I/Os the work is for (the current targets) or held as pending until the I/Os they serve are known
/// (interrupt delivery before reaping). Hypervisor work is summed as host CPU time; exits are counted.
/// </summary>
public sealed class CpuTimeline(SerialActor actor, LatencyBreakdown breakdown)
{
    static readonly int Components = Enum.GetValues<IoComponent>().Length;
    readonly int[] _targets = new int[1024];
    readonly ulong[] _pending = new ulong[Components];
    readonly long[] _exits = new long[Enum.GetValues<ExitReason>().Length];
    readonly ulong[] _captured = new ulong[Components];
    int _targetCount;
    bool _capturing;
    ulong _startedAt;
    bool _running;

    /// <summary>Where costed steps are recorded (null: not recorded).</summary>
    public PathTrace? Trace { get; set; }

    /// <summary>The thread this timeline books time on.</summary>
    public SerialActor Actor { get; } = actor;

    /// <summary>The breakdown charges go to.</summary>
    public LatencyBreakdown Breakdown { get; } = breakdown;

    /// <summary>This CPU's now while it runs.</summary>
    public ulong Cursor { get; private set; }

    /// <summary>Whether it is running (between <see cref="Begin"/> and <see cref="End"/>).</summary>
    public bool IsRunning => _running;

    /// <summary>Hypervisor time spent (ns): host CPU taken from guests.</summary>
    public ulong HostCpuNs { get; private set; }

    /// <summary>Exits of <paramref name="reason"/> so far.</summary>
    public long Exits(ExitReason reason) => _exits[(int)reason];

    /// <summary>All exits so far.</summary>
    public long TotalExits
    {
        get
        {
            long n = 0;
            foreach (long e in _exits) n += e;
            return n;
        }
    }

    /// <summary>Starts running at <paramref name="now"/> (or when the thread becomes free, if later).</summary>
    public void Begin(ulong now)
    {
        if (_running) throw new InvalidOperationException($"{Actor.Name} is already running");
        Cursor = Math.Max(now, Actor.FreeAt);
        _startedAt = Cursor;
        _running = true;
        _targetCount = 0;
    }

    /// <summary>Stops running; the thread is busy until the cursor.</summary>
    public void End()
    {
        if (!_running) throw new InvalidOperationException($"{Actor.Name} is not running");
        Actor.Book(_startedAt, Cursor - _startedAt);
        _running = false;
        _targetCount = 0;
    }

    /// <summary>Makes <paramref name="slot"/> one of the I/Os the next costs are charged to.</summary>
    public void AddTarget(int slot) => _targets[_targetCount++] = slot;

    /// <summary>Costs from now on are charged to no I/O (work between I/Os).</summary>
    public void ClearTargets() => _targetCount = 0;

    /// <summary>
    /// Spends <paramref name="ns"/> of <paramref name="component"/>: moves the cursor, charges each target
    /// I/O, and counts it as host CPU when <paramref name="hostCpu"/>.
    /// </summary>
    public void Spend(IoComponent component, ulong ns, bool hostCpu = false)
    {
        if (ns == 0) return;
        Trace?.Add(Cursor, ns, Actor.Name, component, _targetCount > 0 ? _targets[0] : -1);
        Cursor += ns;
        if (hostCpu) HostCpuNs += ns;
        for (int i = 0; i < _targetCount; i++) Breakdown.Charge(_targets[i], component, ns);
        if (_capturing) _captured[(int)component] += ns;
    }

    /// <summary>
    /// Starts capturing costs whose I/O is known only afterwards (work done while reaping a completion
    /// that turns out to be slot N); <see cref="ChargeCaptured"/> gives them to that slot.
    /// </summary>
    public void StartCapture()
    {
        _capturing = true;
        Array.Clear(_captured);
    }

    /// <summary>Charges the captured costs to <paramref name="slot"/> and starts a new capture.</summary>
    public void ChargeCaptured(int slot)
    {
        for (int i = 0; i < _captured.Length; i++)
            if (_captured[i] != 0) Breakdown.Charge(slot, (IoComponent)i, _captured[i]);
        Array.Clear(_captured);
    }

    /// <summary>Stops capturing (what was captured since the last charge is charged to no I/O).</summary>
    public void StopCapture() => _capturing = false;

    /// <summary>
    /// Charges <paramref name="ns"/> of <paramref name="component"/> to the targets without moving the cursor:
    /// time the I/O spends elsewhere because of this work (a doorbell's flight across the link).
    /// </summary>
    public void ChargeOnly(IoComponent component, ulong ns)
    {
        Trace?.Add(Cursor, ns, "link", component, _targetCount > 0 ? _targets[0] : -1);
        // Not captured: while reaping, the flight of a write (the CQ head doorbell) delays no I/O.
        for (int i = 0; i < _targetCount; i++) Breakdown.Charge(_targets[i], component, ns);
    }

    /// <summary>Counts an exit of <paramref name="reason"/>.</summary>
    public void CountExit(ExitReason reason) => _exits[(int)reason]++;

    /// <summary>
    /// Records <paramref name="ns"/> of <paramref name="component"/> that happened before this CPU ran (on
    /// the way to waking it); it is charged to every I/O reaped in the next run (<see cref="ChargePending"/>).
    /// </summary>
    public void HoldPending(IoComponent component, ulong ns, bool hostCpu = false) => HoldPending(component, ns, hostCpu, 0);

    /// <summary>As <see cref="HoldPending(IoComponent, ulong, bool)"/>, recording the step as starting at <paramref name="startNs"/>.</summary>
    public void HoldPending(IoComponent component, ulong ns, bool hostCpu, ulong startNs)
    {
        Trace?.Add(startNs, ns, "interrupt", component, -1);
        _pending[(int)component] += ns;
        if (hostCpu) HostCpuNs += ns;
    }

    /// <summary>Charges what <see cref="HoldPending(IoComponent, ulong, bool)"/> held to I/O <paramref name="slot"/>.</summary>
    public void ChargePending(int slot)
    {
        for (int i = 0; i < _pending.Length; i++)
            if (_pending[i] != 0) Breakdown.Charge(slot, (IoComponent)i, _pending[i]);
    }

    /// <summary>Forgets pending charges (after the run that reaped their I/Os).</summary>
    public void ClearPending() => Array.Clear(_pending);

    /// <summary>Forgets counters (a new measurement phase).</summary>
    public void ResetCounters()
    {
        HostCpuNs = 0;
        Array.Clear(_exits);
        Actor.ResetCounters();
    }
}
