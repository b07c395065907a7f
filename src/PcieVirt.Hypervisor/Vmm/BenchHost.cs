using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Devices.Nvme.Qos;
using PcieVirt.Devices.RaidController;
using PcieVirt.Fabric;
using PcieVirt.Hypervisor.Sim;
using PcieVirt.Hypervisor.Timing;
using PcieVirt.Platform;
using PcieVirt.Platform.HostOs;
using PcieVirt.Platform.Model;
using PcieVirt.Hypervisor.Guest;

namespace PcieVirt.Hypervisor.Vmm;

/// <summary>
/// One host of a booted model with what every I/O path needs: the discrete-event engine on the host's
/// virtual clock, the timing parameters, posted MMIO writes, the RAID controller's PF and the volume the
/// measurement uses, and helpers to put NVMe controllers in timed mode and to carve host RAM.
/// </summary>
public sealed class BenchHost
{
    const ulong DriverArea = 64UL << 20;
    ulong _nextRam;

    BenchHost(PcieSystem system, TimingParameters timing, string? volume)
        : this(system, system.Hosts[0], system.Hosts[0].RaidControllers().FirstOrDefault() ?? throw new InvalidOperationException("the model has no RAID controller"),
            timing, volume, null)
    {
    }

    BenchHost(PcieSystem system, HostSystem host, RaidControllerFunction pf, TimingParameters timing, string? volume, SimEngine? engine)
    {
        System = system;
        Host = host;
        RootComplex = Host.RootComplex;
        Engine = engine ?? new SimEngine(RootComplex.Clock);
        Timing = timing;
        Posted = new PostedWriteQueue(Engine);
        Pf = pf;
        Device = Pf.Device;
        PfAddress = new PciAddress(RootComplex.Segment, Pf.Bdf);
        var chosen = volume is null
            ? Device.Engine.Volumes.FirstOrDefault(v => Device.AttachmentsOf(v).Any(n => n > 0)) ?? Device.Engine.Volumes.FirstOrDefault()
            : Device.Engine.FindVolume(volume);
        Volume = chosen?.Name ?? throw new InvalidOperationException(volume is null ? "the RAID controller has no volume" : $"no volume '{volume}'");
        VfNumber = Device.AttachmentsOf(chosen).FirstOrDefault(n => n > 0);
        var ram = RootComplex.HostMemory.Ranges.OrderByDescending(r => r.Size).First();
        _nextRam = ram.Base + ram.Size;
        RamFloor = ram.Base + ram.Size / 2; // firmware and the OS keep the lower half
    }

    /// <summary>Boots <paramref name="model"/> and prepares a bench on its first host.</summary>
    public static BenchHost Boot(PlatformModel model, PcieVirt.Hypervisor.Paths.PathOptions options)
    {
        var b = new BenchHost(PcieSystem.Boot(model), options.Timing, options.Volume);
        if (options.Media is { } kind)
        {
            int i = 0;
            foreach (var d in b.Device.Engine.Drives)
            {
                ulong seed = 0x5EED_0000UL + (ulong)i++;
                switch (kind)
                {
                    case Paths.PathMedia.Null: d.ChangeMedia(d.Kind, PcieVirt.Devices.Media.NullLatencyModel.Instance); break;
                    case Paths.PathMedia.Optane: d.ChangeMedia(PcieVirt.Devices.Media.DriveKind.Optane, seed: seed); break;
                    case Paths.PathMedia.Hdd: d.ChangeMedia(PcieVirt.Devices.Media.DriveKind.Hdd, seed: seed); break;
                    default: d.ChangeMedia(PcieVirt.Devices.Media.DriveKind.NvmeFlash, seed: seed); break;
                }
            }
        }
        return b;
    }

    /// <summary>
    /// A bench on any host of a booted system (multi-root: each host's hypervisor has its own) for the RAID
    /// controller PF <paramref name="pf"/> that host now sees, on <paramref name="engine"/> (a new engine on the
    /// host's clock when null).
    /// </summary>
    public static BenchHost ForHost(PcieSystem system, HostSystem host, RaidControllerFunction pf, TimingParameters timing, string? volume, SimEngine? engine = null) =>
        new(system, host, pf, timing, volume, engine);

    public PcieSystem System { get; }
    public HostSystem Host { get; }
    public RootComplex RootComplex { get; }
    public SimEngine Engine { get; }
    public TimingParameters Timing { get; }
    public PostedWriteQueue Posted { get; }
    public RaidControllerFunction Pf { get; }
    public RaidControllerDevice Device { get; }
    public PciAddress PfAddress { get; }
    /// <summary>The volume the workload runs on.</summary>
    public string Volume { get; }
    /// <summary>The VF the model attaches <see cref="Volume"/> to (0 when none).</summary>
    public int VfNumber { get; }
    ulong RamFloor { get; }

    /// <summary>Takes <paramref name="size"/> bytes of host RAM from the top (2 MiB aligned).</summary>
    public ulong CarveRam(ulong size)
    {
        ulong at = (_nextRam - size) & ~((2UL << 20) - 1);
        if (at < RamFloor) throw new InvalidOperationException($"host RAM cannot hold another 0x{size:x} bytes");
        _nextRam = at;
        return at;
    }

    /// <summary>An allocator over freshly carved host RAM.</summary>
    public HostMemoryAllocator HostAllocator(ulong size = DriverArea) => new(RootComplex.HostMemory, CarveRam(size), size);

    /// <summary>
    /// Puts <paramref name="controller"/> in timed mode on the host's clock: a media model with one channel
    /// per member drive of the volume, PCIe transport timing, firmware overhead; the engine polls it.
    /// </summary>
    public void Time(NvmeController controller)
    {
        var clock = RootComplex.Clock;
        controller.Clock = () => clock.Now;
        var v = Device.Engine.FindVolume(Volume);
        int drives = v is PcieVirt.Devices.Raid.RaidVolume rv ? rv.Members.Count : 1;
        controller.Media ??= new NvmeMediaModel(Math.Max(1, drives));
        controller.Transport = new PcieTransportTiming(Timing);
        controller.CommandOverheadNs = Timing[TimingParameter.ControllerFirmware];
        Engine.AddSource(new ControllerTimer(controller));
    }

    /// <summary>The host's PF driver (the hypervisor's or bare-metal OS's), initialised with <paramref name="ioQueueEntries"/>-entry I/O queue 1.</summary>
    public NvmeDriver PfDriver(ITimedHostBus bus, HostMemoryAllocator memory, int ioQueueEntries)
    {
        var primary = Pf.Controller;
        var driver = new NvmeDriver(bus, memory, new NvmeDriverOptions
        {
            IoQueueEntries = ioQueueEntries,
            Clock = () => RootComplex.Clock.Now,
            AdvanceClock = RootComplex.Clock.Advance,
            Pump = () => primary.ProcessPending(),
        });
        driver.Initialize();
        return driver;
    }

    /// <summary>A bus for a host driver on <paramref name="function"/>: the OS's view plus CPU costs.</summary>
    public HostTimedBus HostBus(PciAddress function) => new(new OsHostBus(Host, function), RootComplex, Posted, Timing);
}
