import InventoryService
import ServiceKit

await ServiceHost.main(InventoryService.self)
