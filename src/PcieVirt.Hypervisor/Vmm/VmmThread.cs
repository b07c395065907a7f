using PcieVirt.Hypervisor.Sim;

namespace PcieVirt.Hypervisor.Vmm;

/// <summary>What a VMM thread can be asked to do.</summary>
public enum VmmWork
{
    /// <summary>Look at a guest queue (an emulated controller's SQs, a virtqueue) after a doorbell or kick.</summary>
    GuestQueue,
    /// <summary>Reap the host driver's completions (the PF's interrupt arrived).</summary>
    HostCompletions,
}

/// <summary>
/// A hypervisor thread (the VMM's main loop, an I/O thread, a backend thread) in virtual time: work is
/// scheduled on it for a moment; it runs when the moment comes and the thread is free, on its own
/// <see cref="CpuTimeline"/>, so its busy time is host CPU taken from guests and waiting for it shows up
/// in the latency. Requests for the same work coalesce while one is pending, as a real event loop does.
/// </summary>
public sealed class VmmThread : ISimEventHandler
{
    readonly SimEngine _engine;
    readonly bool[] _pending = new bool[Enum.GetValues<VmmWork>().Length];

    /// <summary>A thread running on <paramref name="timeline"/> (whose breakdown its costs are charged to).</summary>
    public VmmThread(SimEngine engine, CpuTimeline timeline)
    {
        _engine = engine;
        Timeline = timeline;
    }

    /// <summary>The thread's timeline.</summary>
    public CpuTimeline Timeline { get; }

    /// <summary>What to do for each kind of work (set by the path that owns the thread).</summary>
    public Action<CpuTimeline, VmmWork>? Handler { get; set; }

    /// <summary>Times the thread ran.</summary>
    public long Runs { get; private set; }

    /// <summary>Asks the thread to do <paramref name="work"/> at <paramref name="at"/> (or when it is next free).</summary>
    public void Schedule(VmmWork work, ulong at)
    {
        if (_pending[(int)work]) return;
        _pending[(int)work] = true;
        _engine.Schedule(Math.Max(at, _engine.Now), this, (int)work);
    }

    void ISimEventHandler.OnEvent(int tag, long argument)
    {
        _pending[tag] = false;
        Runs++;
        Timeline.Begin(_engine.Now);
        Timeline.ClearTargets();
        Handler?.Invoke(Timeline, (VmmWork)tag);
        Timeline.ClearTargets();
        Timeline.End();
    }
}
