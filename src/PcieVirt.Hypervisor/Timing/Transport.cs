using PcieVirt.Devices.Nvme;

namespace PcieVirt.Hypervisor.Timing;

/// <summary>Chooses the device's link and DMA timing model for a parameter set.</summary>
internal static class Transport
{
    /// <summary>The PCIe link and DMA timing of <paramref name="timing"/>.</summary>
    public static INvmeTransportTiming For(TimingParameters timing) => new PcieTransportTiming(timing);
}
