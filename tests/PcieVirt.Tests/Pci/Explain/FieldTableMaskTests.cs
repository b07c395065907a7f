using PcieVirt.Fabric;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Explain;
using PcieVirt.Pci.Functions;
using PcieVirt.Platform;
using PcieVirt.Platform.Model;

namespace PcieVirt.Tests.Pci.Explain;

/// <summary>
/// The proof that explain does not lie: every field of every table, applied to every function of the default
/// platform (PFs, VFs, root ports, switch ports, endpoints), declares an access the live masks implement —
/// RW bits writable, RO/HwInit/Rsvd bits neither writable nor RW1C, RW1C bits in the RW1C mask, sticky
/// variants in the sticky mask — and no writable or RW1C bit of an explained register is left undescribed.
/// </summary>
[TestFixture]
public class FieldTableMaskTests
{

    static List<PciFunction> DefaultPlatformWithVfs(out PcieSystem system)
    {
        system = PcieSystem.Boot(PlatformModel.LoadDefault());
        var host = system.Hosts[0];
        foreach (var pf in host.RootComplex.AttachedFunctions.ToArray())
            if (pf.FindCapability<SriovCapability>() is { } s)
            {
                var r = host.Os.EnableVfs(new PciAddress(host.RootComplex.Segment, pf.Bdf), Math.Min(4, (int)s.TotalVfs));
                Assert.That(r.Success, Is.True, r.Message);
            }
        var all = host.RootComplex.AttachedFunctions.ToList();
        foreach (var pf in all.ToArray())
            if (pf.FindCapability<SriovCapability>() is { } s)
                foreach (var vf in s.VirtualFunctions) if (!all.Contains(vf)) all.Add(vf);
        return all;
    }

    static IEnumerable<string> Violations(PciFunction f)
    {
        var c = f.Config;
        foreach (var r in ExplainCatalog.AllRegisters(f))
        {
            var t = r.Table;
            string where = $"{f.Name} {t.Name} @0x{r.At:x3}";
            uint wrAll = c.WritableMask(r.At, t.Width), w1cAll = c.W1cMask(r.At, t.Width), stAll = c.StickyMask(r.At, t.Width);
            uint covered = 0;
            foreach (var field in t.Fields)
            {
                uint m = field.Mask;
                if (field.High >= t.Width * 8) yield return $"{where}: {field.Name} lies outside the register";
                if ((covered & m) != 0) yield return $"{where}: {field.Name} overlaps another field";
                covered |= m;
                uint wr = wrAll & m, w1c = w1cAll & m, st = stAll & m;
                var a = field.AccessFor(f);
                string what = $"{where} [{field.High}:{field.Low}] {field.Name} declared {a}{(field.Flags != 0 ? $" ({field.Flags})" : "")}: writable 0x{wr:x}, RW1C 0x{w1c:x}, sticky 0x{st:x}";
                switch (a)
                {
                    case FieldAccess.RW or FieldAccess.RWS:
                        if (w1c != 0) yield return what + " — an RW field has RW1C bits";
                        else if ((field.Flags & FieldFlags.WriteAction) != 0) { if (wr != 0) yield return what + " — an action bit must read 0, so must not be stored"; }
                        else if ((field.Flags & FieldFlags.Partial) != 0) { }
                        else if ((field.Flags & FieldFlags.Optional) != 0) { if (wr != 0 && wr != m) yield return what + " — an optional field is implemented in part"; }
                        else if (wr != m) yield return what + " — not writable";
                        if (a == FieldAccess.RWS && (st & wr) != wr) yield return what + " — RWS bits are not sticky";
                        break;
                    case FieldAccess.RW1C or FieldAccess.RW1CS:
                        if (wr != 0) yield return what + " — an RW1C field is plain writable";
                        else if ((field.Flags & FieldFlags.Optional) != 0) { if (w1c != 0 && w1c != m) yield return what + " — implemented in part"; }
                        else if (w1c != m) yield return what + " — not RW1C";
                        if (a == FieldAccess.RW1CS && (st & w1c) != w1c) yield return what + " — RW1CS bits are not sticky";
                        break;
                    default:
                        if (wr != 0 || w1c != 0) yield return what + " — a read-only/reserved field can be changed by software";
                        break;
                }
            }
            if (((wrAll | w1cAll) & ~covered) != 0)
                yield return $"{where}: bits 0x{(wrAll | w1cAll) & ~covered:x} are writable or RW1C but no field describes them";
        }
    }

    [Test]
    public void Every_declared_access_matches_the_live_masks_on_every_function_of_the_default_platform()
    {
        var functions = DefaultPlatformWithVfs(out _);
        var violations = functions.SelectMany(Violations).ToList();
        Assert.That(violations, Is.Empty, string.Join("\n", violations));
    }

    [Test]
    public void Every_declared_access_matches_the_live_masks_on_the_fabric_model()
    {
        var system = PcieSystem.Boot(PlatformModel.Load(PcieVirt.Tests.Platform.ModelFiles.DeviceModel("fabric-4x8.json")).Model!);
        var functions = system.Hosts.SelectMany(h => h.RootComplex.AttachedFunctions).ToList();
        Assert.That(functions, Is.Not.Empty);
        var violations = functions.SelectMany(Violations).ToList();
        Assert.That(violations, Is.Empty, string.Join("\n", violations));
    }

    static EndpointFunction Endpoint(Action<EndpointFunction> build)
    {
        var f = new EndpointFunction("variant", new FunctionIdentity { VendorId = 0x1234, DeviceId = 0x5678, ClassCode = 0x010802, InterruptPin = 1 });
        build(f);
        f.AddCapability(new PciExpressCapability());
        f.Seal();
        return f;
    }

    // (variant, MSI register short name → offset from the MSI header the spec gives for that variant, §7.7.1)
    static IEnumerable<TestCaseData> MsiVariants()
    {
        yield return new TestCaseData(false, false, new[] { ("MSI_DATA", 0x08), ("MSI_EXT_DATA", 0x0A) }).SetName("MSI 32-bit, no per-vector masking");
        yield return new TestCaseData(false, true, new[] { ("MSI_DATA", 0x08), ("MSI_MASK", 0x0C), ("MSI_PENDING", 0x10) }).SetName("MSI 32-bit with per-vector masking");
        yield return new TestCaseData(true, false, new[] { ("MSI_ADDRESS_HI", 0x08), ("MSI_DATA", 0x0C) }).SetName("MSI 64-bit, no per-vector masking");
        yield return new TestCaseData(true, true, new[] { ("MSI_ADDRESS_HI", 0x08), ("MSI_DATA", 0x0C), ("MSI_MASK", 0x10), ("MSI_PENDING", 0x14) }).SetName("MSI 64-bit with per-vector masking");
    }

    [TestCaseSource(nameof(MsiVariants))]
    public void MSI_registers_sit_where_the_spec_puts_them_for_each_variant(bool address64, bool pvm, (string Short, int Rel)[] expected)
    {
        var f = Endpoint(e => e.AddCapability(new MsiCapability(new MsiOptions { VectorsRequested = 4, Address64 = address64, PerVectorMasking = pvm })));
        var msi = f.FindCapability<MsiCapability>()!;
        var placed = ExplainCatalog.CapabilityRegisters(f, msi).ToList();
        foreach (var (shortName, rel) in expected)
            Assert.That(placed.Where(r => r.Table.Short == shortName).Select(r => r.At - msi.Offset), Is.EqualTo(new[] { rel }), shortName);
        Assert.That(placed.Any(r => r.Table.Short == "MSI_ADDRESS_HI"), Is.EqualTo(address64));
        Assert.That(placed.Any(r => r.Table.Short == "MSI_MASK"), Is.EqualTo(pvm));
        Assert.That(placed.Max(r => r.At + r.Table.Width) - msi.Offset, Is.LessThanOrEqualTo(msi.Length), "no register beyond the capability");
        Assert.That(Violations(f), Is.Empty);
    }

    [Test]
    public void BAR_variants_IO_32bit_64bit_and_ROM_are_explained_with_their_own_fields()
    {
        var f = Endpoint(e =>
        {
            e.DefineBar(new BarDefinition(0, BarKind.Io, 32));
            e.DefineBar(new BarDefinition(1, BarKind.Memory32, 0x1000));
            e.DefineBar(new BarDefinition(2, BarKind.Memory64, 0x10000, Prefetchable: true));
            e.DefineExpansionRom(0x8000);
            e.AddCapability(new PowerManagementCapability());
        });
        var regs = ExplainCatalog.HeaderRegisters(f).ToList();
        Assert.That(regs.Single(r => r.At == 0x10).Table.Fields[0].Name, Is.EqualTo("I/O Space Indicator"));
        Assert.That(regs.Single(r => r.At == 0x14).Table.Fields[0].Name, Is.EqualTo("Memory Space Indicator"));
        Assert.That(regs.Single(r => r.At == 0x18).Table.Fields.Select(x => x.Name), Does.Contain("Prefetchable"));
        Assert.That(regs.Single(r => r.At == 0x1C).Table.Fields.Single().Name, Is.EqualTo("Base Address (upper 32 bits)"));
        Assert.That(regs.Single(r => r.At == 0x20).Table.Fields[0].Name, Is.EqualTo("Memory Space Indicator"), "an unused BAR after a 64-bit pair");
        // I/O Space Enable is writable with an I/O BAR (§7.5.1.1.3), so explain shows RW without a note.
        var io = Explainer.Describe(f, regs.Single(r => r.At == 0x04), regs.Single(r => r.At == 0x04).Table.Fields[0]);
        Assert.That((io.Effective, io.Note), Is.EqualTo(("RW", (string?)null)));
        Assert.That(Violations(f), Is.Empty);
    }

    [Test]
    public void The_cross_check_covers_every_table_and_both_header_types_and_VFs()
    {
        var functions = DefaultPlatformWithVfs(out _);
        var used = functions.SelectMany(f => ExplainCatalog.AllRegisters(f)).Select(r => r.Capability).Where(c => c != null).Distinct().ToList();
        Assert.That(used, Is.EquivalentTo(ExplainCatalog.Capabilities), "a table the default platform never exercises is not cross-checked");
        Assert.That(functions.Any(f => f.HeaderLayout == 0) && functions.Any(f => f.HeaderLayout == 1), Is.True);
        Assert.That(functions.Count(f => f.IsVirtualFunction), Is.GreaterThan(0));
        // Root-port-only registers (Root Control/Status, AER root registers) were checked too.
        Assert.That(functions.SelectMany(ExplainCatalog.AllRegisters).Any(r => r.Table.Short == "ROOTSTA"), Is.True);
        Assert.That(functions.SelectMany(ExplainCatalog.AllRegisters).Any(r => r.Table.Short == "RTSTA"), Is.True);
    }

    [Test]
    public void The_cross_check_catches_a_table_that_lies()
    {
        // Declare Bus Master Enable read-only: the check must flag it on a PF where it is writable.
        var functions = DefaultPlatformWithVfs(out _);
        var pf = functions.First(f => f.FindCapability<SriovCapability>() != null);
        var command = ExplainCatalog.HeaderRegisters(pf).Single(r => r.At == 0x04);
        var bme = command.Table.Fields.Single(x => x.Low == 2);
        var lying = command with { Table = command.Table with { Fields = [bme with { Access = FieldAccess.RO }] } };
        uint wr = pf.Config.WritableMask(lying.At, 2) & bme.Mask;
        Assert.That(wr, Is.EqualTo(bme.Mask), "the premise: BME is writable in the mask (§7.5.1.1.3)");
        var s = Explainer.Describe(pf, lying, lying.Table.Fields[0]);
        Assert.That(s.Effective, Is.EqualTo("RW"), "the displayed access comes from the mask, not the declaration");
        Assert.That(s.Note, Does.Contain("spec: RO"));
    }

    [Test]
    public void Tables_have_unique_short_names_per_capability_and_aliases_are_unique()
    {
        foreach (var c in ExplainCatalog.Capabilities)
        {
            var byShort = c.Registers.GroupBy(r => r.Short).Where(g => g.Select(r => r.Offset).Distinct().Count() > 1 && g.Key is not ("MSI_DATA" or "MSI_EXT_DATA" or "MSI_MASK" or "MSI_PENDING"));
            Assert.That(byShort, Is.Empty, c.Name);
        }
        var aliases = ExplainCatalog.Capabilities.SelectMany(c => c.Aliases).ToList();
        Assert.That(aliases, Is.Unique);
    }
}
