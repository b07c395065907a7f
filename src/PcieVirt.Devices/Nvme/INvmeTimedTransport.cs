namespace PcieVirt.Devices.Nvme;

/// <summary>
/// A transport timing that also needs to know when each transfer happens, because it books time on a shared
/// link (an MR link's virtual links): the controller calls these overloads instead of the untimed ones.
/// </summary>
public interface INvmeTimedTransport : INvmeTransportTiming
{
    /// <summary>As <see cref="INvmeTransportTiming.BeforeMediaNs"/>, for reads that start at <paramref name="startNs"/>.</summary>
    ulong BeforeMediaNs(ulong startNs, int readRequests, long readBytes, ulong stallNs);

    /// <summary>As <see cref="INvmeTransportTiming.AfterMediaNs"/>, for writes that start at <paramref name="startNs"/> (when the media is done).</summary>
    ulong AfterMediaNs(ulong startNs, long writeBytes);
}
