using BenchmarkDotNet.Attributes;
using PcieVirt.Fabric;
using PcieVirt.Pci;
using PcieVirt.Pci.Config;
using PcieVirt.Platform;

namespace PcieVirt.Benchmarks;

/// <summary>
/// SR-IOV at scale on devicemodels/sriov-8x256.json: 8 PFs with ARI and TotalVFs = 256 behind a switch.
/// <list type="bullet">
/// <item>Enable: the host OS model (LinuxPciCore) enables all 256 VFs of every PF — NumVFs, offset/stride,
/// VF Enable | VF MSE, the 100 ms wait (virtual time), then a config scan of each of the 2,048 VFs; the
/// fabric creates and places them. The VFs are disabled again between iterations (not measured).</item>
/// <item>Config reads of a VF and of its PF through ECAM (Type 1 through root port, switch, downstream port).</item>
/// </list>
/// </summary>
[MemoryDiagnoser]
public class SriovBenchmarks
{
    HostSystem _host = null!;
    PciAddress[] _pfs = [];
    RootComplex _rc = null!;
    ulong _pfClass, _vfClass, _vf1Class;

    [GlobalSetup]
    public void Setup()
    {
        _host = ModelFiles.Boot("sriov-8x256.json").Hosts[0];
        _rc = _host.RootComplex;
        _pfs = [.. _host.Os.PhysicalFunctions.Select(p => p.Address)];
        if (_pfs.Length != 8) throw new InvalidOperationException($"sriov-8x256 has {_pfs.Length} PFs");
    }

    [IterationCleanup(Target = nameof(EnableAndEnumerate2048Vfs))]
    public void DisableAll()
    {
        foreach (var pf in _pfs) _host.Os.DisableVfs(pf);
    }

    [Benchmark(Description = "Enable + enumerate 2,048 VFs (8 PFs x 256, ARI) through LinuxPciCore")]
    public int EnableAndEnumerate2048Vfs()
    {
        int n = 0;
        foreach (var pf in _pfs)
        {
            var r = _host.Os.EnableVfs(pf, 256);
            if (!r.Success) throw new InvalidOperationException(r.ToString());
            n += 256;
        }
        return n;
    }

    [GlobalSetup(Targets = [nameof(ConfigReadPf), nameof(ConfigReadVf), nameof(ConfigReadVfOnPfBus)])]
    public void SetupEnabled()
    {
        Setup();
        foreach (var pf in _pfs) _host.Os.EnableVfs(pf, 256);
        var pf0 = _host.Os.PhysicalFunctions[^1];
        var vf = pf0.VirtualFunctions[^1]; // VF 256: on the bus after the PF's
        _pfClass = _rc.EcamAddress(pf0.Address.Bdf, PciRegs.RevisionId);
        _vfClass = _rc.EcamAddress(vf.Address.Bdf, PciRegs.RevisionId);
        _vf1Class = _rc.EcamAddress(pf0.VirtualFunctions[0].Address.Bdf, PciRegs.RevisionId);
        if (_rc.EcamRead(_vfClass, 4, out uint v) != CompletionStatus.SuccessfulCompletion || v == 0xFFFF_FFFF)
            throw new InvalidOperationException("the VF does not answer");
    }

    [Benchmark(Description = "ECAM read32 of a PF (class/revision)")]
    public uint ConfigReadPf()
    {
        _rc.EcamRead(_pfClass, 4, out uint v);
        return v;
    }

    [Benchmark(Description = "ECAM read32 of VF 1 (class/revision), on the PF's bus")]
    public uint ConfigReadVfOnPfBus()
    {
        _rc.EcamRead(_vf1Class, 4, out uint v);
        return v;
    }

    [Benchmark(Description = "ECAM read32 of VF 256 (class/revision), on the next bus")]
    public uint ConfigReadVf()
    {
        _rc.EcamRead(_vfClass, 4, out uint v);
        return v;
    }
}
