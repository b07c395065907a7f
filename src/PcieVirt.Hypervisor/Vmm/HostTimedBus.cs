using PcieVirt.Devices.Driver;
using PcieVirt.Fabric;
using PcieVirt.Hypervisor.Guest;
using PcieVirt.Hypervisor.Sim;
using PcieVirt.Hypervisor.Timing;

namespace PcieVirt.Hypervisor.Vmm;

/// <summary>
/// A host driver's view of its function with the CPU's costs: config requests and BAR addresses as the
/// host OS gives them, MMIO reads stall the CPU for a round trip, MMIO writes are posted (the CPU pays a
/// little, the device sees the write a link traversal later).
/// </summary>
public sealed class HostTimedBus(INvmeHostBus inner, RootComplex rootComplex, PostedWriteQueue posted, TimingParameters timing) : ITimedHostBus
{
    readonly FabricMmioTarget _fabric = new(rootComplex);

    public CpuTimeline? Cpu { get; set; }
    public string Name => inner.Name;
    public uint ConfigRead(int offset, int width) => inner.ConfigRead(offset, width);
    public void ConfigWrite(int offset, int width, uint value) => inner.ConfigWrite(offset, width, value);
    public long InterruptCount(byte vector) => inner.InterruptCount(vector);
    public ulong BarAddress(int index) => inner.BarAddress(index);

    public CompletionStatus MemoryRead(ulong address, Span<byte> data)
    {
        Cpu?.Spend(IoComponent.Doorbell, timing[TimingParameter.MmioReadRoundTrip]);
        return rootComplex.MemoryRead(address, data);
    }

    public CompletionStatus MemoryWrite(ulong address, ReadOnlySpan<byte> data)
    {
        if (Cpu is not { } cpu || data.Length > 8) return rootComplex.MemoryWrite(address, data);
        cpu.Spend(IoComponent.Doorbell, timing[TimingParameter.MmioPostedWrite]);
        ulong flight = timing[TimingParameter.PostedWriteLatency];
        cpu.ChargeOnly(IoComponent.Link, flight);
        posted.Post(cpu.Cursor + flight, _fabric, address, data);
        return CompletionStatus.SuccessfulCompletion;
    }
}
