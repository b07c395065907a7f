namespace PcieVirt.Hypervisor.Sim;

/// <summary>
/// A thread of execution that does one thing at a time: a vCPU, the VMM's I/O thread, a backend
/// thread, a host CPU. Work that arrives while it is busy waits its turn (FIFO). It keeps how long it
/// was busy, so host CPU time per I/O falls out of the hypervisor's actors.
/// </summary>
public sealed class SerialActor(string name, bool isHostCpu)
{
    /// <summary>Name shown in reports and traces ("vcpu0", "vmm", "iothread").</summary>
    public string Name { get; } = name;

    /// <summary>Whether its busy time is host CPU taken from guests (hypervisor threads), not guest time.</summary>
    public bool IsHostCpu { get; } = isHostCpu;

    /// <summary>Virtual time it becomes free.</summary>
    public ulong FreeAt { get; private set; }

    /// <summary>Total busy time so far (ns).</summary>
    public ulong BusyNs { get; private set; }

    /// <summary>
    /// Books <paramref name="durationNs"/> of work arriving at <paramref name="arrivalNs"/>; returns when it
    /// starts (after any work already booked). The work ends at start + duration.
    /// </summary>
    public ulong Book(ulong arrivalNs, ulong durationNs)
    {
        ulong start = Math.Max(arrivalNs, FreeAt);
        FreeAt = start + durationNs;
        BusyNs += durationNs;
        return start;
    }

    /// <summary>
    /// Extends the work in progress (or the last work booked) by <paramref name="durationNs"/>: the actor is
    /// free that much later. Meant for work still running; on an idle actor it only adds busy time after
    /// its last booking, so book new work with <see cref="Book"/> instead.
    /// </summary>
    public void Extend(ulong durationNs)
    {
        FreeAt += durationNs;
        BusyNs += durationNs;
    }

    /// <summary>Clears the busy-time counter (a new measurement phase); work already booked stays booked.</summary>
    public void ResetCounters() => BusyNs = 0;
}
