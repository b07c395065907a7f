using PcieVirt.Pci;

namespace PcieVirt.Fabric;

// A host that stops (power loss, crash of the whole machine): the model's "failed" state for failover.
public sealed partial class RootComplex
{
    /// <summary>True once <see cref="Fail"/> ran: the host issues nothing and accepts nothing.</summary>
    public bool IsFailed { get; private set; }
    /// <summary>Virtual time at which the host failed (0 while it runs).</summary>
    public ulong FailedAtNs { get; private set; }
    /// <summary>Configuration and memory requests from this host's CPU refused after the failure (UR, reads all ones).</summary>
    public long HostRequestsRefused { get; private set; }
    /// <summary>Memory reads mastered by functions towards this host after the failure (completed UR).</summary>
    public long UpstreamRefusedAfterFailure { get; private set; }
    /// <summary>Memory writes and MSIs mastered by functions towards this host after the failure (dropped).</summary>
    public long UpstreamDroppedAfterFailure { get; private set; }

    /// <summary>
    /// Stops the host: from now on its CPU's configuration, MMIO and I/O requests complete UR (reads
    /// return all ones) and every request a function masters towards it — DMA reads and writes, MSI —
    /// is refused as if its memory and interrupt controller were gone. Functions below it keep running;
    /// what they do no longer reaches this host. Irreversible (a restarted host is a new boot).
    /// </summary>
    public void Fail()
    {
        if (IsFailed) return;
        IsFailed = true;
        FailedAtNs = Clock.Now;
        // Cached upstream paths would otherwise let a DMA take the fast path past the check.
        InvalidateRouting();
        Log.RootComplexFailed(_log, Name, FailedAtNs);
    }
}
