using PcieVirt.Devices.Nvme;
using PcieVirt.Fabric.MultiRoot;

namespace PcieVirt.Hypervisor.Timing;

/// <summary>
/// The transport timing of a PF behind a shared MR link: <see cref="PcieTransportTiming"/>'s link and DMA time
/// plus the queueing its TLPs meet on the link's virtual links. The PF's reads are booked as memory read requests
/// upstream and their completions downstream, its writes (read data, the completion entry) as posted writes
/// upstream, all on the VL its VH tag maps to; what is added is the time beyond what the same TLPs would take on
/// an idle link (so on an idle link this equals the plain timing). Per command: arithmetic and array updates only.
/// </summary>
public sealed class VlTransportTiming : INvmeTimedTransport
{
    readonly PcieTransportTiming _inner;
    readonly MrVirtualLinks _links;
    readonly int _vl, _mps, _completionSize;
    readonly Func<ulong> _now;

    /// <summary>
    /// Timing for a PF whose VH carries <paramref name="tag"/> on the link with <paramref name="links"/>;
    /// <paramref name="now"/> is the simulated time (the shared link's time base), which tells the arbiter which
    /// VLs are busy when a transfer for later is booked.
    /// </summary>
    public VlTransportTiming(PcieTransportTiming inner, MrVirtualLinks links, int tag, int maxPayloadSize, int readCompletionSize, Func<ulong> now)
    {
        _now = now ?? throw new ArgumentNullException(nameof(now));
        _inner = inner ?? throw new ArgumentNullException(nameof(inner));
        _links = links ?? throw new ArgumentNullException(nameof(links));
        _vl = links.VlOf(tag);
        _mps = Math.Min(maxPayloadSize, links.Options.MaxPayloadSize);
        _completionSize = Math.Min(readCompletionSize, _mps);
    }

    /// <summary>The VL this PF's traffic uses.</summary>
    public int VirtualLink => _vl;

    /// <summary>Link time of the reads without a start time (no booking): the plain timing.</summary>
    public ulong BeforeMediaNs(int readRequests, long readBytes, ulong stallNs) => _inner.BeforeMediaNs(readRequests, readBytes, stallNs);

    /// <summary>Link time of the writes without a start time (no booking): the plain timing.</summary>
    public ulong AfterMediaNs(long writeBytes) => _inner.AfterMediaNs(writeBytes);

    /// <summary>The plain timing plus the VL queueing of the read requests (upstream) and their completions (downstream).</summary>
    public ulong BeforeMediaNs(ulong startNs, int readRequests, long readBytes, ulong stallNs)
    {
        ulong plain = _inner.BeforeMediaNs(readRequests, readBytes, stallNs);
        if (readRequests <= 0 || readBytes <= 0) return plain;
        ulong requestsEnd = startNs, requestsAlone = 0;
        for (int i = 0; i < readRequests; i++)
        {
            requestsEnd = _links.Upstream.Send(_vl, FcType.NonPosted, 0, startNs, Math.Min(_now(), startNs));
            requestsAlone += _links.Upstream.WireNs(FcType.NonPosted, 0);
        }
        ulong dataEnd = _links.Downstream.SendBurst(_vl, FcType.Completion, readBytes, _completionSize, startNs, Math.Min(_now(), startNs), out ulong dataAlone);
        ulong queued = Excess(requestsEnd - startNs, requestsAlone) + Excess(dataEnd - startNs, dataAlone);
        return plain + queued;
    }

    /// <summary>The plain timing plus the VL queueing of the posted writes.</summary>
    public ulong AfterMediaNs(ulong startNs, long writeBytes)
    {
        ulong plain = _inner.AfterMediaNs(writeBytes);
        if (writeBytes <= 0) return plain;
        ulong end = _links.Upstream.SendBurst(_vl, FcType.Posted, writeBytes, _mps, startNs, Math.Min(_now(), startNs), out ulong alone);
        return plain + Excess(end - startNs, alone);
    }

    static ulong Excess(ulong took, ulong alone) => took > alone ? took - alone : 0;
}
