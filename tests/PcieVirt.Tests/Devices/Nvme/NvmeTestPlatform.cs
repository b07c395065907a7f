using PcieVirt.Tests.Support;
using Microsoft.Extensions.Logging;
using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Fabric;
using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Functions;
using PcieVirt.Tests.Fabric;

namespace PcieVirt.Tests.Devices.Nvme;

/// <summary>A virtual clock tests advance by hand.</summary>
internal sealed class ManualClock
{
    public ulong NowNs { get; set; }
    public void Advance(ulong ns) => NowNs += ns;
}

/// <summary>
/// A host with one root complex, one root port and an NVMe PF below it, enumerated by the firmware model:
/// <code>
/// 00:01.0 root port ── 01:00.0 nvme0 (BAR0 64-bit, MSI-X in BAR0, PCIe endpoint, FLR)
/// </code>
/// Namespace 1 (8192 x 512 B, in memory) is attached to the controller. Host RAM for the driver comes
/// from an allocator over [16 MiB, 80 MiB).
/// </summary>
internal sealed class NvmeTestPlatform
{
    public const ushort ControllerId = 1;
    public const ulong Ns1Blocks = 8192;

    public NvmeTestPlatform(NvmeControllerOptions? options = null, bool attachNamespace1 = true, int ns1BlockSize = 512,
        LogLevel logLevel = LogLevel.Debug, bool withMsi = false)
    {
        LoggerFactory = RecordingLogger.Factory(Logs, logLevel);
        Rc = new RootComplex(FabricTestKit.Options(), LoggerFactory);
        Port = Rc.AddRootPort(1, 0, FabricTestKit.Port("rp0", BridgePortKind.RootPort));
        Subsystem = new NvmeSubsystem("nqn.2024-01.io.pcievirt:test", 16, LoggerFactory.CreateLogger("nvme-subsystem"));
        Ns1 = new MemoryNamespaceBackend(Ns1Blocks, ns1BlockSize);
        Subsystem.AddNamespace(1, Ns1);
        var o = (options ?? new NvmeControllerOptions()) with { ControllerId = options?.ControllerId is > 0 ? options.ControllerId : ControllerId };
        Function = new NvmeEndpointFunction("nvme0",
            new FunctionIdentity { VendorId = 0x1B36, DeviceId = 0x0010, ClassCode = NvmeEndpointFunction.RaidClassCode, SubsystemVendorId = 0x1B36 },
            o, Subsystem, LoggerFactory.CreateLogger("nvme0"));
        if (withMsi) Function.AddCapability(new MsiCapability(new MsiOptions { VectorsRequested = 4, PerVectorMasking = false }));
        Function.AddCapability(new PciExpressCapability(new PciExpressOptions { FlrCapable = true }));
        Function.Seal();
        Controller = Function.Controller;
        Controller.Clock = () => Clock.NowNs;
        if (attachNamespace1) Assert.That(Subsystem.Attach(1, Controller.ControllerId), Is.EqualTo(NvmeStatus.Success));
        Port.ConnectDevice(Function);
        Report = new FirmwareEnumerator(Rc).Enumerate();
        Assert.That(Report.Failures, Is.Empty, "enumeration");
        Memory = new HostMemoryAllocator(Rc.HostMemory, 0x100_0000, 0x400_0000);
    }

    public RecordingLogger Logs { get; } = new();
    public ILoggerFactory LoggerFactory { get; }
    public ManualClock Clock { get; } = new();
    public RootComplex Rc { get; }
    public RootPort Port { get; }
    public NvmeSubsystem Subsystem { get; }
    public MemoryNamespaceBackend Ns1 { get; }
    public NvmeEndpointFunction Function { get; }
    public NvmeController Controller { get; }
    public EnumerationReport Report { get; }
    public HostMemoryAllocator Memory { get; }
    public ulong Bar0 => Function.BarAddress(0);

    /// <summary>A driver for the PF, with the platform's clock (and the controller's ProcessPending as pump in explicit mode).</summary>
    public NvmeDriver Driver(NvmeDriverOptions? options = null)
    {
        var o = options ?? new NvmeDriverOptions();
        o = o with
        {
            Clock = o.Clock ?? (() => Clock.NowNs),
            AdvanceClock = o.AdvanceClock ?? Clock.Advance,
            Pump = o.Pump ?? (Controller.Options.Processing == NvmeProcessingMode.Explicit ? () => Controller.ProcessPending() : null),
        };
        return new NvmeDriver(Rc, Function.Bdf, Memory, o);
    }

    /// <summary>A driver already initialised (enabled, identified, I/O queues created).</summary>
    public NvmeDriver ReadyDriver(NvmeDriverOptions? options = null)
    {
        var d = Driver(options);
        d.Initialize();
        return d;
    }

    public byte[] HostRead(ulong address, int length)
    {
        var b = new byte[length];
        Assert.That(Rc.HostMemory.Read(address, b), Is.True);
        return b;
    }

    public void HostWrite(ulong address, byte[] data) => Assert.That(Rc.HostMemory.Write(address, data), Is.True);

    /// <summary>Deterministic test pattern: byte i of block b = f(seed, b, i).</summary>
    public static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        uint x = (uint)seed * 2654435761u + 1;
        for (int i = 0; i < length; i++)
        {
            x ^= x << 13; x ^= x >> 17; x ^= x << 5;
            b[i] = (byte)x;
        }
        return b;
    }

    public IEnumerable<string> LogMessages(LogLevel atLeast) =>
        Logs.Entries.Where(e => e.Level >= atLeast).Select(e => e.Message);
}
