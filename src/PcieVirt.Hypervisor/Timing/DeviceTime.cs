using PcieVirt.Devices.Nvme;
using PcieVirt.Hypervisor.Sim;

namespace PcieVirt.Hypervisor.Timing;

/// <summary>
/// A completed command's time in the device, split the way the breakdown shows it: link (DMA before the
/// media plus the writes after), controller firmware, and media (service plus waiting for a busy drive).
/// </summary>
public readonly record struct DeviceTime(ulong LinkNs, ulong FirmwareNs, ulong MediaNs)
{
    /// <summary>The split of <paramref name="r"/>, the controller's per-command overhead being <paramref name="firmwareNs"/>.</summary>
    public static DeviceTime Of(in NvmeCommandRecord r, ulong firmwareNs)
    {
        ulong link = r.TransportBeforeNs + r.TransportAfterNs;
        ulong total = r.CompletedAtNs - r.FetchedAtNs;
        ulong firmware = Math.Min(firmwareNs, total - Math.Min(total, link));
        return new DeviceTime(link, firmware, total - Math.Min(total, link + firmware));
    }

    /// <summary>Charges it to request <paramref name="slot"/>; <paramref name="extraLinkNs"/> adds link time outside the command (the MSI's flight).</summary>
    public void Charge(LatencyBreakdown breakdown, int slot, ulong extraLinkNs = 0)
    {
        breakdown.Charge(slot, IoComponent.Link, LinkNs + extraLinkNs);
        breakdown.Charge(slot, IoComponent.Controller, FirmwareNs);
        breakdown.Charge(slot, IoComponent.Media, MediaNs);
    }

    /// <summary>Records the command's device-side steps of <paramref name="r"/> on the "device" track.</summary>
    public void Trace(PathTrace trace, in NvmeCommandRecord r, int slot)
    {
        ulong mediaEnd = r.CompletedAtNs - r.TransportAfterNs;
        trace.Add(r.FetchedAtNs, r.TransportBeforeNs, "device", IoComponent.Link, slot);
        trace.Add(mediaEnd - Math.Min(mediaEnd, FirmwareNs + MediaNs), FirmwareNs, "device", IoComponent.Controller, slot);
        trace.Add(mediaEnd - Math.Min(mediaEnd, MediaNs), MediaNs, "device", IoComponent.Media, slot);
        trace.Add(mediaEnd, r.TransportAfterNs, "device", IoComponent.Link, slot);
    }
}
